"""Configuration of KoGNER, the knowledge-graph-distilled span/label bi-encoder for biomedical NER."""

from __future__ import annotations

import copy
from typing import Any

from transformers import PretrainedConfig

DISTILLATION_LOSSES = ("mse", "contrastive")
LINKING_QUERIES = ("mean_tokens", "span")
ALL_NAMES = "all"  # linking_name_candidates: same-name entities anywhere in the entity index

KOGNER_PIPELINES: dict[str, dict[str, Any]] = {
    "token-classification": {"impl": "pipeline_kogner.KoGNERPipeline", "pt": ["AutoModel"], "type": "text"}
}
"""``custom_pipelines`` of every KoGNER config: ``transformers.pipeline(model=path, trust_remote_code=True)`` finds
[`KoGNERPipeline`] (``pipeline_kogner.py``, saved next to the weights) through it."""


def parse_name_candidates(value: int | str) -> int | str:
    """A ``linking_name_candidates`` value from a config or a command line: ``"all"`` or a count >= 0 (``"5"`` -> 5)."""
    if value == ALL_NAMES:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"linking_name_candidates must be an int >= 0 or '{ALL_NAMES}', got {value!r}")


class KoGNERConfig(PretrainedConfig):
    r"""Configuration for [`KoGNERModel`].

    The text encoder is stored as a plain dict (``encoder_config``) and built with ``AutoModel.from_config``, so
    creating a config or a model never downloads anything; pretrained encoder weights are loaded explicitly by
    [`KoGNERModel.from_encoder`] or come from a saved KoGNER checkpoint.

    Args:
        encoder_config (`dict`, *optional*):
            ``to_dict()`` of the text encoder's config (must contain ``model_type``).
        label_encoder (`str`, *optional*, defaults to ``"shared"``):
            ``"shared"``: entity-type names are encoded by the text encoder itself; ``"separate"``: by a second
            encoder built from ``label_encoder_config`` (or a copy of ``encoder_config``).
        label_encoder_config (`dict`, *optional*):
            Config dict of the separate label encoder.
        max_width (`int`, *optional*, defaults to 8):
            Longest span, in words, that the model scores (paper Table 3).
        hidden_size (`int`, *optional*, defaults to 512):
            Size of the span and label vectors whose dot product is the matching score.
        dropout (`float`, *optional*, defaults to 0.4):
            Dropout in the span/label FFNs.
        teacher_dim (`int`, *optional*, defaults to 0):
            Size ``r`` of the teacher vectors ``H = [Z, Z', Z'']``; 0 builds no distillation head.
        distillation_dim (`int`, *optional*, defaults to 256):
            Common size into which ``MLP_span`` and ``MLP_dist`` map spans and teacher vectors.
        freeze_teacher_projection (`bool`, *optional*, defaults to `True`):
            Keep ``MLP_dist`` at its random initialisation. When both sides of the MSE are trainable they can both
            collapse to a constant and the distillation loss reaches 0 without transferring anything; a fixed random
            linear map preserves the geometry of ``H`` (Johnson-Lindenstrauss), so the student has to learn it.
            The contrastive loss cannot collapse (other entities push back), so it may train ``MLP_dist`` too.
        distillation_loss (`str`, *optional*, defaults to `"mse"`):
            ``"mse"``: the paper's eq. 6, mean squared error between ``MLP_span(span)`` and ``MLP_dist(H)``.
            ``"contrastive"``: InfoNCE on cosines, the linked entity against the batch's other linked entities and
            sampled teacher entities; it trains the span space for retrieval (entity linking, ``link=True``).
        distillation_temperature (`float`, *optional*, defaults to 0.05): softmax temperature of the contrastive loss.
        linking_query (`str`, *optional*, defaults to `"mean_tokens"`):
            What ``link=True`` compares with the entities. ``"mean_tokens"``: the mean of the encoder's sub-token
            outputs over the span, through a linking head (``linking_head``: its own two linear maps into
            ``distillation_dim``, fitted after training by `kogner.training.linking_heads`). ``"span"``: the
            span vector ``FFN([x_p; x_q])`` through the distillation head's ``MLP_span`` (the paper's eq. 6 space).
            The span vector is trained to type spans and keeps little of their identity, so it links unseen
            entities far less often than the token mean (BENCHMARKS.md, "Entity linking").
        linking_name_candidates (`int` or `"all"`, *optional*, defaults to `"all"`):
            With ``link=True``, entities whose name equals the span's text (case-folded, words as the model splits
            them) come before the others, the nearest first: those among this many entities nearest to the span, or
            with ``"all"`` any in the index (the vectors then choose among same-name entities and link spans named
            like none; chosen on the generated KG's validation split, BENCHMARKS.md "Entity linking"). 0 links by
            the vectors alone.
        linking_nil_threshold (`float`, *optional*, defaults to `None`):
            With ``link=True``, a span that no entity name or synonym matches and whose nearest entity (by vector)
            scores a cosine below this links to nothing (``kg_id`` None); ``None`` always links.
        lang_weight (`float`, *optional*, defaults to 0.8): weight ``a`` of the language (BCE) loss.
        dist_weight (`float`, *optional*, defaults to 0.2): weight ``b`` of the distillation (MSE) loss.
        focal_alpha (`float`, *optional*, defaults to -1): focal-loss alpha; negative disables the alpha term.
        focal_gamma (`float`, *optional*, defaults to 0): focal-loss gamma; 0 is plain BCE.
        threshold (`float`, *optional*, defaults to 0.5): default decision threshold of ``predict_entities``.
        max_words_per_window (`int`, *optional*, defaults to 192):
            Longer texts are split into overlapping windows of at most this many words (also capped so a window's
            sub-tokens fit the encoder) and the predictions are merged back: nothing is truncated.
        window_stride (`int`, *optional*, defaults to 160):
            Words between the starts of consecutive windows; the overlap ``max_words_per_window - window_stride``
            must be at least ``max_width`` so that no span is cut by a window edge.
        max_label_tokens (`int`, *optional*, defaults to 16): entity-type names longer than this are rejected.
        custom_pipelines (`dict`, *optional*): defaults to ``KOGNER_PIPELINES`` (the ``transformers.pipeline``
            entry point of this model).
    """

    model_type = "kogner"

    def __init__(
        self,
        encoder_config: dict[str, Any] | None = None,
        label_encoder: str = "shared",
        label_encoder_config: dict[str, Any] | None = None,
        max_width: int = 8,
        hidden_size: int = 512,
        dropout: float = 0.4,
        teacher_dim: int = 0,
        distillation_dim: int = 256,
        freeze_teacher_projection: bool = True,
        distillation_loss: str = "mse",
        distillation_temperature: float = 0.05,
        linking_query: str = "mean_tokens",
        linking_name_candidates: int | str = ALL_NAMES,
        linking_nil_threshold: float | None = None,
        lang_weight: float = 0.8,
        dist_weight: float = 0.2,
        focal_alpha: float = -1.0,
        focal_gamma: float = 0.0,
        threshold: float = 0.5,
        max_words_per_window: int = 192,
        window_stride: int = 160,
        max_label_tokens: int = 16,
        **kwargs: Any,
    ) -> None:
        if label_encoder not in ("shared", "separate"):
            raise ValueError(f"label_encoder must be 'shared' or 'separate', got {label_encoder!r}")
        if distillation_loss not in DISTILLATION_LOSSES:
            raise ValueError(f"distillation_loss must be one of {DISTILLATION_LOSSES}, got {distillation_loss!r}")
        if linking_query not in LINKING_QUERIES:
            raise ValueError(f"linking_query must be one of {LINKING_QUERIES}, got {linking_query!r}")
        linking_name_candidates = parse_name_candidates(linking_name_candidates)
        if distillation_temperature <= 0:
            raise ValueError(f"distillation_temperature must be > 0, got {distillation_temperature}")
        if max_width < 1:
            raise ValueError(f"max_width must be >= 1, got {max_width}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if not 0 < window_stride <= max_words_per_window:
            raise ValueError(f"window_stride must be in (0, max_words_per_window], got {window_stride}")
        if max_words_per_window - window_stride < max_width:
            raise ValueError(
                f"windows overlap by {max_words_per_window - window_stride} words, fewer than max_width={max_width}: "
                "spans at window edges would be lost"
            )
        if encoder_config is not None and "model_type" not in encoder_config:
            raise ValueError("encoder_config must be a config dict with a 'model_type' key (config.to_dict())")
        self.encoder_config = encoder_config
        self.label_encoder = label_encoder
        self.label_encoder_config = label_encoder_config
        self.max_width = max_width
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.teacher_dim = teacher_dim
        self.distillation_dim = distillation_dim
        self.freeze_teacher_projection = freeze_teacher_projection
        self.distillation_loss = distillation_loss
        self.distillation_temperature = distillation_temperature
        self.linking_query = linking_query
        self.linking_name_candidates = linking_name_candidates
        self.linking_nil_threshold = linking_nil_threshold
        self.lang_weight = lang_weight
        self.dist_weight = dist_weight
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.threshold = threshold
        self.max_words_per_window = max_words_per_window
        self.window_stride = window_stride
        self.max_label_tokens = max_label_tokens
        self.custom_pipelines = copy.deepcopy(kwargs.pop("custom_pipelines", None) or KOGNER_PIPELINES)
        super().__init__(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """As ``PretrainedConfig.to_dict``; ``transformers.pipeline`` replaces the class names under
        ``custom_pipelines[...]["pt"]`` by the classes themselves, which are written back as names."""
        output = super().to_dict()
        pipelines = output.get("custom_pipelines") or {}
        output["custom_pipelines"] = {
            task: {**info, "pt": [getattr(cls, "__name__", cls) for cls in info.get("pt", ())]}
            for task, info in pipelines.items()
        }
        return output

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "KoGNERConfig":
        """Build from a dict, refusing configs of other model types (e.g. a bare encoder's ``config.json``)."""
        model_type = config_dict.get("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(
                f"this is a config of model type {model_type!r}, not {cls.model_type!r}: to start a KoGNER model "
                "from that encoder use KoGNERModel.from_encoder(name_or_path)"
            )
        return super().from_dict(config_dict, **kwargs)
