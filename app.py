"""KoGNER Gradio demo: biomedical named-entity recognition for any entity types you type.

Run ``python app.py --model DIR_OR_HUB_ID`` (a directory saved by training, or a Hub id; the model's code comes with
it through ``trust_remote_code``). Without ``--model`` the demo loads ``$KOGNER_MODEL``, else ``runs/demo/model``
(written by ``make demo``). It binds 127.0.0.1 unless ``--host`` (or ``$GRADIO_SERVER_NAME``, as on Hugging Face
Spaces) says otherwise, and opens a public share link only with ``--share``.

Limits (``--max-chars``, ``--concurrency``, ``--long-concurrency``): texts up to ``MAX_TEXT_CHARS`` characters; a text
longer than ``LONG_TEXT_CHARS`` runs in the *long lane* (``--long-concurrency`` at a time, default 1) and a shorter one
in the *short lane* (``--concurrency`` at a time, default 2), so a short request never waits for a long one to finish:
at most one long request shares the CPU with it. Every string the user typed is escaped before it is shown.

The app needs only torch, transformers, gradio and pysbd (sentence splitting, on by default: "Split into sentences"),
so the same file runs in a Space (``python space/assemble.py`` writes the Space's folder, see ``space/README.md``).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import inspect
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr

MODEL_ENV_VAR = "KOGNER_MODEL"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "runs" / "demo" / "model"
REVISION_ENV_VAR = "KOGNER_MODEL_REVISION"
MAX_TEXT_CHARS = 10_000  # per-request time at this cap: BENCHMARKS.md, "Demo latency"
LONG_TEXT_CHARS = 2_000  # longer texts run in the long lane
MAX_LABELS = 32
MAX_LABEL_CHARS = 100
DEFAULT_CONCURRENCY = 2  # short requests at once
DEFAULT_LONG_CONCURRENCY = 1  # long requests at once
DEFAULT_QUEUE_SIZE = 64
TABLE_HEADERS = ["text", "label", "score", "start", "end"]
LINK_HEADERS = ["kg_id", "kg_name", "link_score"]

# Label colours: fixed for the types the presets name, a stable hash of the name into the same palette otherwise, so
# a type keeps its colour across requests, runs and machines whatever the other types are (Tableau 20 palette).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#c7c7c7",
]
KNOWN_LABEL_COLORS = {
    label: PALETTE[index]
    for index, label in enumerate(
        ["chemical", "disease", "gene", "protein", "cell line", "cell type", "dna", "rna", "phenotype", "anatomy",
         "organism"]
    )
}
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]#|~$!])")

# The entity types of the KoGNER knowledge graph (kogner.kg.biokg_lite.ENTITY_TYPES), kept here so that the app
# imports nothing from the project (a Space only has the model's remote code).
KG_ENTITY_TYPES = ["phenotype", "gene", "disease", "chemical", "cell type", "cell line", "anatomy", "organism"]
KG_PRESET = "KoGNER knowledge graph (8 types)"

# Same label sets as kogner.corpora.registry.EVALUATION_CORPUS_LABELS, for when the project is not installed.
FALLBACK_CORPUS_LABELS = {
    "NCBI-disease": ["disease"], "BC5CDR": ["chemical", "disease"], "BC2GM": ["gene"],
    "JNLPBA/GENIA": ["protein", "DNA", "RNA", "cell line", "cell type"], "BC4CHEMD": ["chemical"],
}
CORPUS_DISPLAY_NAMES = {"ncbi_disease": "NCBI-disease", "bc5cdr": "BC5CDR", "bc2gm": "BC2GM",
                        "jnlpba": "JNLPBA/GENIA", "bc4chemd": "BC4CHEMD"}

EXAMPLES = [
    [
        "Long-term lithium therapy was followed by nephrogenic diabetes insipidus in three patients treated for "
        "bipolar disorder; symptoms eased after amiloride was added.",
        "chemical, disease",
    ],
    [
        "Carriers of BRCA2 mutations face a higher risk of ovarian cancer, and olaparib prolonged survival in this group.",
        "gene, disease, chemical",
    ],
    [
        "Jurkat cells and primary CD4+ T lymphocytes were stimulated with interleukin-2 before NF-kappa B activity "
        "was measured.",
        "cell line, cell type, protein",
    ],
    [
        "Children with cystic fibrosis often carry the F508del variant of CFTR and develop chronic Pseudomonas "
        "aeruginosa infection of the lung with persistent cough.",
        "disease, gene, organism, anatomy, phenotype",
    ],
]


def label_presets() -> dict[str, list[str]]:
    """Preset name -> entity types: the evaluation corpora's label sets and the knowledge graph's types."""
    try:
        from kogner.corpora.registry import EVALUATION_CORPUS_LABELS
    except ImportError:  # a Space or a plain `pip install transformers gradio` environment: no project packages
        corpus_labels: Mapping[str, Sequence[str]] = FALLBACK_CORPUS_LABELS
    else:
        corpus_labels = {CORPUS_DISPLAY_NAMES.get(name, name): labels for name, labels in EVALUATION_CORPUS_LABELS.items()}
    presets = {name: list(labels) for name, labels in corpus_labels.items()}
    presets[KG_PRESET] = list(KG_ENTITY_TYPES)
    return presets


def parse_labels(labels_text: str | None) -> list[str]:
    """Comma-separated entity types -> list of unique, stripped, non-empty names (order kept)."""
    unique: list[str] = []
    for label in (labels_text or "").split(","):
        label = label.strip()
        if label and label not in unique:
            unique.append(label)
    return unique


def input_problem(text: str | None, labels: list[str], max_text_chars: int) -> str | None:
    """A user-facing message (plain text, user input quoted raw: escape it to show it) for input the demo refuses,
    or None when the input is fine."""
    if text is None or not text.strip():
        return "Enter some text to analyse (or pick one of the examples below)."
    if len(text) > max_text_chars:
        return (
            f"The text has {len(text):,} characters; this demo accepts at most {max_text_chars:,}. Shorten it, or run "
            "the model locally with model.predict_entities(text, labels), which has no length limit."
        )
    if not labels:
        return "Enter at least one entity type (comma-separated, e.g. 'disease, chemical') or choose a preset."
    if len(labels) > MAX_LABELS:
        return f"You entered {len(labels)} entity types; the demo accepts at most {MAX_LABELS} at once."
    too_long = [label for label in labels if len(label) > MAX_LABEL_CHARS]
    if too_long:
        return f"Entity type names must be at most {MAX_LABEL_CHARS} characters; '{too_long[0][:40]}…' is longer."
    return None


def escape_markdown(text: str) -> str:
    """``text`` shown literally by ``gr.Markdown``: HTML special characters as entities, Markdown/LaTeX markup
    characters backslash-escaped, line breaks as spaces (no block syntax can start)."""
    text = MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.splitlines()))
    return html.escape(text, quote=True)


def escape_html(text: str) -> str:
    """``text`` shown literally where Gradio renders HTML (``gr.Warning`` toasts)."""
    return html.escape(text, quote=True)


def label_color(label: str) -> str:
    """The colour of an entity type: fixed for the preset types, else a stable hash of the name (case-insensitive)
    into the palette; never depends on the other types or on their order."""
    key = label.strip().casefold()
    if key in KNOWN_LABEL_COLORS:
        return KNOWN_LABEL_COLORS[key]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return PALETTE[int.from_bytes(digest[:8], "big") % len(PALETTE)]


def color_map(segments: Sequence[Any]) -> dict[str, str]:
    """``gr.HighlightedText`` colours of the categories of its value (``(piece, category)`` pairs, or the
    ``{"token", "class_or_confidence"}`` dicts it hands to an event); a multi-label category "a | b" takes a's."""
    categories = {
        str(category)
        for category in (item.get("class_or_confidence") if isinstance(item, Mapping) else item[1]
                         for item in segments)
        if category is not None
    }
    return {category: label_color(category.split(" | ")[0]) for category in sorted(categories)}


def recolor(segments: Sequence[Any] | None) -> Any:
    """The highlighted output's colour map for what it shows (a UI step run after each prediction)."""
    return gr.HighlightedText(color_map=color_map(segments or []))


def highlight_segments(text: str, entities: Sequence[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    """Cut ``text`` into ``(piece, label or None)`` covering it exactly once, for ``gr.HighlightedText``.

    Nested entities cannot be drawn inside one another, so only the outermost spans are highlighted; a span chosen
    with several labels (multi-label) shows them joined by " | ". Every entity is still listed in the table.
    """
    outermost: list[tuple[int, int, list[str]]] = []
    for entity in sorted(entities, key=lambda item: (item["start"], -item["end"])):
        start, end, label = entity["start"], entity["end"], entity["label"]
        if outermost and start < outermost[-1][1]:  # inside (the decoder never lets spans cross) the previous span
            if (start, end) == outermost[-1][:2] and label not in outermost[-1][2]:
                outermost[-1][2].append(label)
            continue
        outermost.append((start, end, [label]))
    segments: list[tuple[str, str | None]] = []
    position = 0
    for start, end, labels in outermost:
        if start > position:
            segments.append((text[position:start], None))
        segments.append((text[start:end], " | ".join(labels)))
        position = end
    if position < len(text):
        segments.append((text[position:], None))
    return segments


def entity_table(entities: Sequence[Mapping[str, Any]], link_columns: bool = False) -> dict[str, Any]:
    """Entities as a ``gr.Dataframe`` value: text, label, score (3 decimals), character start and end, and with
    ``link_columns`` the linked KG entity (``kg_id``, ``kg_name``, ``link_score``; empty where an entity has none)."""
    rows = []
    for entity in entities:
        row = [entity["text"], entity["label"], round(float(entity["score"]), 3), entity["start"], entity["end"]]
        if link_columns:
            score = entity.get("link_score")
            score = None if score is None else round(float(score), 3)
            row += [entity.get("kg_id", ""), entity.get("kg_name", ""), score]
        rows.append(row)
    return {"headers": TABLE_HEADERS + (LINK_HEADERS if link_columns else []), "data": rows}


def accepts_keyword(function: Any, name: str) -> bool:
    """Whether ``function`` takes the keyword argument ``name`` (models saved by older code may not)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def can_link(model: Any) -> bool:
    """The model links entities to its KG: it has an entity index, ``predict_entities(..., link=True)`` and, when it
    links through a linking head, a fitted one."""
    head = getattr(model, "linking_head", None)
    if head is not None and not bool(head.fitted):
        return False
    return getattr(model, "entity_index", None) is not None and accepts_keyword(model.predict_entities, "link")


def split_option(model: Any, split_sentences: bool = True) -> dict[str, bool]:
    """``{"split_sentences": ...}`` for ``predict_entities`` when the model takes it (older remote code does not)."""
    takes_it = accepts_keyword(model.predict_entities, "split_sentences")
    return {"split_sentences": bool(split_sentences)} if takes_it else {}


class RequestLanes:
    """Two lanes of model calls: texts up to ``long_chars`` characters run ``short_limit`` at a time, longer ones
    ``long_limit`` at a time, each lane with its own semaphore. The Gradio event itself has no concurrency limit
    (the queue's ``max_size`` bounds the waiting requests), so a short request never queues behind long ones."""

    def __init__(self, short_limit: int, long_limit: int, long_chars: int) -> None:
        if min(short_limit, long_limit) < 1:
            raise ValueError(f"lane limits must be at least 1, got short {short_limit}, long {long_limit}")
        self.long_chars = long_chars
        self._short = threading.BoundedSemaphore(short_limit)
        self._long = threading.BoundedSemaphore(long_limit)

    def is_long(self, text: str) -> bool:
        return len(text) > self.long_chars

    @contextmanager
    def lane(self, text: str) -> Iterator[None]:
        """Hold a place in the text's lane while the model runs."""
        semaphore = self._long if self.is_long(text) else self._short
        with semaphore:
            yield


def make_predict(model: Any, max_text_chars: int = MAX_TEXT_CHARS, lanes: RequestLanes | None = None) -> Any:
    """The demo's prediction function ``(text, entity_types, threshold, nested, multi_label, split_sentences=True)``
    -> ``(highlighted, table, entities, message)``; links entities to the KG when the model can. ``split_sentences``
    (predict sentence by sentence, pysbd) reaches the model only when it takes it: see [`split_option`]."""
    lanes = lanes or RequestLanes(DEFAULT_CONCURRENCY, DEFAULT_LONG_CONCURRENCY, LONG_TEXT_CHARS)
    link = can_link(model)

    def predict(
        text: str | None, labels_text: str | None, threshold: float, nested: bool, multi_label: bool,
        split_sentences: bool = True,
    ) -> tuple[list[tuple[str, str | None]], dict[str, Any], list[dict[str, Any]], str]:
        labels = parse_labels(labels_text)
        problem = input_problem(text, labels, max_text_chars)
        if problem is None:
            options = {"threshold": threshold, "flat_ner": not nested, "multi_label": multi_label,
                       **split_option(model, split_sentences)}
            try:
                with lanes.lane(text):
                    entities = model.predict_entities(text, labels, **options, **({"link": True} if link else {}))
            except ValueError as error:  # the model's own input checks (threshold range, label tokens, ...)
                problem = f"The model rejected the input: {error}"
            except ImportError as error:  # split_sentences without pysbd: the message says what to install
                problem = str(error)
        if problem is not None:
            gr.Warning(escape_html(problem))
            return [(text or "", None)], entity_table([], link), [], f"⚠️ {escape_markdown(problem)}"
        entities = [dict(entity, score=round(float(entity["score"]), 4)) for entity in entities]
        message = f"Found {len(entities)} entit{'y' if len(entities) == 1 else 'ies'} at threshold {threshold:.2f}."
        segments = highlight_segments(text, entities)
        if sum(1 for segment in segments if segment[1] is not None) < len(entities):
            message += " Nested or multi-label entities are highlighted by their outermost span; the table lists all."
        return segments, entity_table(entities, link), entities, message

    return predict


def build_demo(
    model: Any,
    *,
    max_text_chars: int = MAX_TEXT_CHARS,
    concurrency_limit: int = DEFAULT_CONCURRENCY,
    long_concurrency_limit: int = DEFAULT_LONG_CONCURRENCY,
    long_text_chars: int = LONG_TEXT_CHARS,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    title: str = "KoGNER: biomedical NER for any entity type",
    analytics_enabled: bool | None = None,
) -> gr.Blocks:
    """Build the demo around a loaded KoGNER model (anything with ``predict_entities`` and ``config.threshold``).

    The prediction event is exposed to API clients as ``/predict`` with inputs ``(text, entity_types, threshold,
    nested, multi_label, split_sentences)`` (``split_sentences`` defaults to True: gradio_client fills it in for
    older 5-input calls; a raw HTTP call must send all six) and outputs ``(highlighted, table, entities_json,
    message)``. ``concurrency_limit`` short and ``long_concurrency_limit`` long requests (over ``long_text_chars``
    characters) run at once, see [`RequestLanes`]; at most ``queue_size`` wait. ``analytics_enabled``: Gradio's
    telemetry (None: Gradio's default, ``$GRADIO_ANALYTICS_ENABLED``).
    """
    presets = label_presets()
    default_threshold = float(getattr(model.config, "threshold", 0.5))
    link = can_link(model)
    lanes = RequestLanes(concurrency_limit, long_concurrency_limit, long_text_chars)
    predict = make_predict(model, max_text_chars, lanes)

    with gr.Blocks(title="KoGNER demo", analytics_enabled=analytics_enabled) as demo:
        gr.Markdown(
            f"# {title}\n"
            "Type or paste biomedical text, list the entity types you want (any names: `disease`, `gene`, "
            "`adverse event`, ...), and press **Find entities**. Scores are the model's span-type probabilities; "
            "raise the threshold for fewer, surer entities."
        )
        with gr.Row():
            with gr.Column(scale=3):
                text_box = gr.Textbox(label="Text", lines=7, placeholder="Paste a sentence or an abstract...")
                labels_box = gr.Textbox(
                    label="Entity types (comma-separated)", value="disease, chemical, gene", max_lines=2
                )
                with gr.Row():
                    preset = gr.Dropdown(
                        choices=list(presets), value=None, label="Presets", info="Fills in the entity types"
                    )
                    threshold = gr.Slider(0.0, 1.0, value=default_threshold, step=0.01, label="Threshold")
                with gr.Row():
                    nested = gr.Checkbox(label="Nested", value=False, info="Entities may lie inside others")
                    multi_label = gr.Checkbox(label="Multi-label", value=False, info="A span may get several types")
                    split = gr.Checkbox(label="Split into sentences", value=True, visible=bool(split_option(model)),
                                        info="Predict each sentence on its own")
                submit = gr.Button("Find entities", variant="primary")
            with gr.Column(scale=4):
                message = gr.Markdown(elem_id="kogner-message")
                highlighted = gr.HighlightedText(
                    label="Entities", show_legend=False, show_inline_category=True, elem_id="kogner-highlighted"
                )
                table = gr.Dataframe(
                    value=entity_table([], link),
                    headers=TABLE_HEADERS + (LINK_HEADERS if link else []),
                    datatype=["str", "str", "number", "number", "number"] + (["str", "str", "number"] if link else []),
                    label="Entities (character offsets, end exclusive)",
                    interactive=False,
                    wrap=True,
                )
                with gr.Accordion("JSON", open=False):
                    entities_json = gr.JSON(label="predict_entities output")
        # Each example carries its own entity types: picking one fills in both boxes.
        gr.Examples(examples=EXAMPLES, inputs=[text_box, labels_box], cache_examples=False)

        preset.change(
            lambda name: ", ".join(presets[name]) if name in presets else gr.skip(),
            inputs=preset,
            outputs=labels_box,
            queue=False,
            api_visibility="private",
        )
        predicted = gr.on(
            triggers=[submit.click, labels_box.submit],
            fn=predict,
            inputs=[text_box, labels_box, threshold, nested, multi_label, split],
            outputs=[highlighted, table, entities_json, message],
            api_name="predict",
            concurrency_limit=None,  # the lanes limit the model calls; the queue's max_size bounds the waiting
        )
        # Fixed colours, as a UI-only step: /predict's API output stays the plain highlighted value.
        predicted.then(
            recolor,
            inputs=highlighted,
            outputs=highlighted,
            queue=False,
            api_visibility="private",
        )
    demo.queue(max_size=queue_size, default_concurrency_limit=concurrency_limit)
    return demo


def resolve_model_id(model_arg: str | None) -> str:
    """``--model``, else ``$KOGNER_MODEL``, else ``runs/demo/model`` if it exists; otherwise exit with advice."""
    model_id = model_arg or os.environ.get(MODEL_ENV_VAR)
    if model_id:
        return model_id
    if DEFAULT_MODEL_DIR.is_dir():
        return str(DEFAULT_MODEL_DIR)
    raise SystemExit(
        f"No model to serve: {DEFAULT_MODEL_DIR} does not exist. Run `make demo` to train one there, or pass "
        f"--model DIR_OR_HUB_ID (or set {MODEL_ENV_VAR})."
    )


def load_model(model_id: str, revision: str | None = None) -> Any:
    """Load a saved KoGNER model (directory or Hub id) with its remote code, in eval mode.

    ``revision`` (default ``$KOGNER_MODEL_REVISION``): a Hub commit, tag or branch; pin a commit so that the remote
    code the app runs cannot change under it.
    """
    from transformers import AutoModel

    revision = revision or os.environ.get(REVISION_ENV_VAR) or None
    try:
        options = {"revision": revision} if revision else {}
        model = AutoModel.from_pretrained(model_id, trust_remote_code=True, **options)
    except OSError as error:
        raise SystemExit(f"Could not load the KoGNER model {model_id!r}: {error}") from error
    if not hasattr(model, "predict_entities"):
        raise SystemExit(f"{model_id!r} loaded as {type(model).__name__}, which is not a KoGNER model")
    return model.eval()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--model", help=f"model directory or Hub id (default: ${MODEL_ENV_VAR}, else {DEFAULT_MODEL_DIR})")
    add("--revision", default=os.environ.get(REVISION_ENV_VAR),
        help=f"Hub commit/tag/branch of the model; pin a commit for remote code (default: ${REVISION_ENV_VAR})")
    add("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to bind (default: $GRADIO_SERVER_NAME, else 127.0.0.1 = this machine only)")
    add("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="port (default: 7860)")
    add("--share", action="store_true", help="also open a public *.gradio.live link (off by default)")
    add("--max-chars", type=int, default=MAX_TEXT_CHARS, help=f"longest text accepted (default: {MAX_TEXT_CHARS})")
    add("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
        help=f"texts up to {LONG_TEXT_CHARS:,} characters run this many at once (default: {DEFAULT_CONCURRENCY})")
    add("--long-concurrency", type=int, default=DEFAULT_LONG_CONCURRENCY,
        help=f"longer texts run this many at once, in a lane of their own (default: {DEFAULT_LONG_CONCURRENCY})")
    add("--queue-size", type=int, default=DEFAULT_QUEUE_SIZE,
        help=f"waiting requests beyond which new ones are refused (default: {DEFAULT_QUEUE_SIZE})")
    args = parser.parse_args(argv)
    for name in ("max_chars", "concurrency", "long_concurrency", "queue_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    model = load_model(resolve_model_id(args.model), args.revision)
    demo = build_demo(
        model,
        max_text_chars=args.max_chars,
        concurrency_limit=args.concurrency,
        long_concurrency_limit=args.long_concurrency,
        queue_size=args.queue_size,
    )
    demo.launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
