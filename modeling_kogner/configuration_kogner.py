"""Configuration of KoGNER, the knowledge-graph-distilled span/label bi-encoder for biomedical NER."""

from __future__ import annotations

import copy
from typing import Any

from transformers import PretrainedConfig
from transformers.utils import logging

from .losses_kogner import DISTILLATION_LOSSES, LossSettings  # noqa: F401  (DISTILLATION_LOSSES: re-exported)
from .processing_kogner import check_threshold

logger = logging.get_logger(__name__)

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


def check_no_training_settings(settings: dict[str, Any], where: str) -> None:
    """Raise ``ValueError`` when ``settings`` (keyword arguments of ``where``) hold a training setting
    ([`LossSettings`]), naming where it belongs."""
    misplaced = [name for name in LossSettings.names() if name in settings]
    if misplaced:
        raise ValueError(
            f"{', '.join(misplaced)}: training setting(s), not part of the model config ({where}). Give them to the "
            "training arguments (train.py --NAME VALUE, the YAML given to --config, or KoGNERTrainingArguments), or "
            "set model.loss_settings = LossSettings(...) (modeling_kogner.losses_kogner) for a training loop of your "
            "own"
        )


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
            Longest span, in words, that the model scores (>= 1).
        hidden_size (`int`, *optional*, defaults to 512):
            Size (> 0) of the span and label vectors whose dot product is the matching score.
        dropout (`float`, *optional*, defaults to 0.4):
            Dropout in the span/label FFNs.
        teacher_dim (`int`, *optional*, defaults to 0):
            Size ``r`` of the teacher vectors ``H = [Z, Z', Z'']``; 0 builds no distillation head.
        distillation_dim (`int`, *optional*, defaults to 256):
            Common size (> 0) into which ``MLP_span`` and ``MLP_dist`` map spans and teacher vectors.
        linking_query (`str`, *optional*, defaults to `"mean_tokens"`):
            What ``link=True`` compares with the entities. ``"mean_tokens"``: the mean of the encoder's sub-token
            outputs over the span, through a linking head (``linking_head``: its own two linear maps into
            ``distillation_dim``, fitted after training by `kogner.training.linking_heads`). ``"span"``: the
            span vector ``FFN([x_p; x_q])`` through the distillation head's ``MLP_span`` (the paper's eq. 6 space).
            How often each links which entities is measured in BENCHMARKS.md ("Entity linking").
        linking_name_candidates (`int` or `"all"`, *optional*, defaults to `"all"`):
            With ``link=True``, entities whose name equals the span's text (case-folded, words as the model splits
            them) come before the others, the nearest first: those among this many entities nearest to the span, or
            with ``"all"`` any in the index (the vectors then choose among same-name entities and link spans named
            like none). 0 links by the vectors alone.
        linking_nil_threshold (`float`, *optional*, defaults to `None`):
            With ``link=True``, a span that no entity name or synonym matches and whose nearest entity (by vector)
            scores a cosine below this links to nothing (``kg_id`` None); ``None`` always links.
        threshold (`float`, *optional*, defaults to 0.5): default decision threshold of ``predict_entities``, in
            [0, 1].
        max_words_per_window (`int`, *optional*, defaults to 192):
            Longer texts are split into overlapping windows of at most this many words (also capped so a window's
            sub-tokens fit the encoder) and the predictions are merged back: nothing is truncated.
        window_stride (`int`, *optional*, defaults to 160):
            Words between the starts of consecutive windows; the overlap ``max_words_per_window - window_stride``
            must be at least ``max_width`` so that no span is cut by a window edge.
        max_label_tokens (`int`, *optional*, defaults to 16): entity-type names longer than this are rejected.
        custom_pipelines (`dict`, *optional*): defaults to ``KOGNER_PIPELINES`` (the ``transformers.pipeline``
            entry point of this model).

    The config holds what the saved model needs at inference. The training objective (loss weights, focal loss,
    distillation loss and temperature, frozen ``MLP_dist``) is [`LossSettings`], set by the training arguments:
    giving one of those settings here raises ``ValueError`` naming where it belongs. A ``config.json`` saved by an
    older version that still holds them loads; they are ignored.
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
        linking_query: str = "mean_tokens",
        linking_name_candidates: int | str = ALL_NAMES,
        linking_nil_threshold: float | None = None,
        threshold: float = 0.5,
        max_words_per_window: int = 192,
        window_stride: int = 160,
        max_label_tokens: int = 16,
        **kwargs: Any,
    ) -> None:
        check_no_training_settings(kwargs, "KoGNERConfig")
        if label_encoder not in ("shared", "separate"):
            raise ValueError(f"label_encoder must be 'shared' or 'separate', got {label_encoder!r}")
        if linking_query not in LINKING_QUERIES:
            raise ValueError(f"linking_query must be one of {LINKING_QUERIES}, got {linking_query!r}")
        linking_name_candidates = parse_name_candidates(linking_name_candidates)
        if max_width < 1:
            raise ValueError(f"max_width must be >= 1, got {max_width}")
        for name, size in (("hidden_size", hidden_size), ("distillation_dim", distillation_dim)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive integer, got {size!r}")
        check_threshold(threshold)
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
        self.linking_query = linking_query
        self.linking_name_candidates = linking_name_candidates
        self.linking_nil_threshold = linking_nil_threshold
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
        """Build from a dict, refusing configs of other model types (e.g. a bare encoder's ``config.json``) and
        training settings among ``kwargs`` (e.g. ``from_pretrained(path, dist_weight=0.5)``). Training settings in
        ``config_dict`` (a ``config.json`` saved by an older version) are ignored."""
        check_no_training_settings(kwargs, "from_pretrained/from_dict keyword arguments")
        legacy = [name for name in LossSettings.names() if name in config_dict]
        if legacy:
            logger.info("ignoring training setting(s) %s saved in an older config", ", ".join(legacy))
            config_dict = {key: value for key, value in config_dict.items() if key not in legacy}
        model_type = config_dict.get("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(
                f"this is a config of model type {model_type!r}, not {cls.model_type!r}: to start a KoGNER model "
                "from that encoder use KoGNERModel.from_encoder(name_or_path)"
            )
        return super().from_dict(config_dict, **kwargs)
