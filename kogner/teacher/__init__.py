"""The KoGNER teacher H = [Z, Z', Z''] (paper §2.3): one module per view, one for the artifact.

* `text` — Z, the encoder over entity names (+ descriptions);
* `graph` — Z', a PyG Graph Transformer pretrained on node types;
* `transr` — Z'', TransR through PyKEEN;
* `artifact` — builds, caches, writes and reads ``teacher.safetensors`` + ``entities.tsv`` + ``teacher.json``.
"""

from .artifact import BuildResult, Teacher, build_teacher, describe
from .cache import measured
from .settings import TeacherSettings

__all__ = ["BuildResult", "Teacher", "TeacherSettings", "build_teacher", "describe", "measured"]
