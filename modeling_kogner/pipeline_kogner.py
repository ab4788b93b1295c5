"""``transformers.pipeline`` support for KoGNER: ``pipeline(model=path, trust_remote_code=True)(text, labels=[...])``.

The model's ``config.json`` names this class under ``custom_pipelines`` (task ``token-classification``), so the
pipeline is found without registering anything. It calls the model's own ``predict_entities`` /
``batch_predict_entities``: the entities are exactly the ones those methods return. Imports only torch and
transformers (this file travels with the weights as remote code).
"""

from __future__ import annotations

from typing import Any

from transformers import Pipeline

PIPELINE_TASK = "token-classification"
"""The task name under which ``config.custom_pipelines`` registers [`KoGNERPipeline`]."""


class KoGNERPipeline(Pipeline):
    """Zero-shot span NER: find entities of the types named in ``labels``.

    Example:

    ```python
    from transformers import pipeline

    ner = pipeline(model="path/or/hub-id", trust_remote_code=True)
    ner("Cisplatin-induced nephrotoxicity.", labels=["chemical", "disease"], threshold=0.4)
    # [{"start": 0, "end": 9, "text": "Cisplatin", "label": "chemical", "score": ...}, ...]
    ```

    Keyword arguments of a call (``labels`` required, the others optional) are those of
    ``model.predict_entities``: ``threshold``, ``flat_ner``, ``multi_label`` and any other the model accepts. A list
    of texts is predicted in batches of ``batch_size`` (default 8) and gives one list of entities per text.
    """

    _load_tokenizer = False  # the model loads (and saves) its own tokenizer
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def __init__(self, model: Any, tokenizer: Any = None, **kwargs: Any) -> None:
        super().__init__(model=model, tokenizer=tokenizer if tokenizer is not None else model.tokenizer, **kwargs)
        if tokenizer is not None:
            self.model.tokenizer = tokenizer

    def _sanitize_parameters(self, labels: Any = None, **kwargs: Any) -> tuple[dict, dict, dict]:
        forward = dict(kwargs)
        if labels is not None:
            forward["labels"] = labels
        return {}, forward, {}

    def __call__(self, inputs: Any, *args: Any, labels: Any = None, **kwargs: Any) -> Any:
        """Entities per text: ``[{"start", "end", "text", "label", "score"}]`` (a list of those for a list)."""
        if args:
            raise TypeError("pass the entity types as a keyword argument: pipe(text, labels=[...])")
        if isinstance(labels, str):
            labels = [labels]
        if not labels:
            raise ValueError(
                "the KoGNER pipeline needs the entity types to look for: call it as pipe(text, labels=['disease', "
                "'chemical', ...])"
            )
        if isinstance(inputs, (list, tuple)):
            batch_size = kwargs.pop("batch_size", None) or self._batch_size or 8
            kwargs.pop("num_workers", None)
            return self.model.batch_predict_entities(list(inputs), labels, batch_size=batch_size, **kwargs)
        if not isinstance(inputs, str):
            raise ValueError(f"the KoGNER pipeline takes a text or a list of texts, got {type(inputs).__name__}")
        return super().__call__(inputs, labels=labels, **kwargs)

    def preprocess(self, inputs: str) -> dict[str, Any]:
        return {"text": inputs}

    def _forward(self, model_inputs: dict[str, Any], labels: Any = None, **kwargs: Any) -> dict[str, Any]:
        return {"entities": self.model.predict_entities(model_inputs["text"], labels, **kwargs)}

    def postprocess(self, model_outputs: dict[str, Any]) -> list[dict[str, Any]]:
        return model_outputs["entities"]
