"""Linking queries of predicted spans, read from the encoder states of the forward pass that predicted them.

``link=True`` needs each decoded span's linking query (`linking_kogner.linking_queries`): the mean of the encoder's
sub-token states over the span (``linking_query="mean_tokens"``) or its span vector (``"span"``), taken from the
first window of its text that holds the span. [`SpanQueries`] keeps them while `predict_word_spans` runs: a forward
hook on the encoder (or on the span layer) hands it each batch's states, and it reads the queries of the spans that
batch decodes, so linking runs no second encoder pass. It leaves out (and `linking_kogner.span_vectors` encodes
again) only a span the first window holding it did not propose, which happens only in texts of several windows,
and every span when the forward is not this model's own (an ONNX Runtime backend). Imports only torch and this
package.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch

from .processing_kogner import Window, span_flat_index


def window_query(states: torch.Tensor, window: Window, start: int, end: int, mean_tokens: bool,
                 max_width: int) -> torch.Tensor:
    """The linking query of window words ``start..end`` (inclusive, window indices) from one window's states:
    ``[T, d]`` sub-token states -> their mean over the span's sub-tokens (``mean_tokens``), or ``[N * W, h]`` span
    vectors -> the span's vector."""
    if mean_tokens:
        first, stop = window.sub_token_range(start, end)
        return states[first : max(stop, first + 1)].mean(dim=0)
    return states[span_flat_index(start, end, max_width)]


class SpanQueries:
    """Linking queries ``(text, start, end) -> [q]`` (float32, on the CPU) of the spans one prediction call decodes.

    Use: `plan` with the call's windows in text order, `capture` around the batches, `add` after each batch with
    the spans wanted from each window of the batch, `keep` once a text is decoded; `get` then answers for the
    decoded spans found (``None`` for those left to a second encoder pass, see the module docstring).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.mean_tokens = model.config.linking_query == "mean_tokens"
        self.max_width = int(model.config.max_width)
        self.found: dict[tuple[int, int, int], torch.Tensor] = {}
        self._pending: dict[int, dict[tuple[int, int], torch.Tensor]] = {}
        self._windows: dict[int, list[Window]] = {}
        self._states: torch.Tensor | None = None
        self.batches_read = 0  # batches whose states were read (the rest are left to a second encoder pass)

    def plan(self, windows: Sequence[Window]) -> None:
        """Record the windows of the call (in text order, as ``WordBatchEncoder.windows`` returns them)."""
        for window in windows:
            self._windows.setdefault(window.example_index, []).append(window)

    def first_window(self, text: int, start: int, end: int) -> Window | None:
        """The first window of ``text`` that holds words ``start..end`` (the one `linking_queries` reads)."""
        for window in self._windows.get(text, ()):
            if window.word_offset <= start and end < window.word_offset + window.num_words:
                return window
        return None

    @contextmanager
    def capture(self) -> Iterator[None]:
        """Keep the states of each forward pass run inside the block: the encoder's last hidden state
        (``mean_tokens``) or the span layer's span vectors."""
        module = self.model.encoder if self.mean_tokens else self.model.span_representation

        def keep(_module: Any, _inputs: Any, output: Any) -> None:
            self._states = output.last_hidden_state if self.mean_tokens else output[0]

        handle = module.register_forward_hook(keep)
        try:
            yield
        finally:
            handle.remove()
            self._states = None

    def add(self, chunk: Sequence[Window], spans: Sequence[Sequence[Any]]) -> None:
        """Read, from the states of the batch ``chunk`` just run, the queries of ``spans[i]`` (objects with
        ``.start``/``.end``, word indices in the whole text) whose first window is ``chunk[i]``."""
        states, self._states = self._states, None
        if states is None or states.shape[0] != len(chunk):
            return
        self.batches_read += 1
        keys, vectors = [], []
        for row, (window, wanted) in enumerate(zip(chunk, spans)):
            for start, end in dict.fromkeys((span.start, span.end) for span in wanted):
                if self.first_window(window.example_index, start, end) is window:
                    keys.append((window.example_index, start, end))
                    vectors.append(window_query(states[row], window, start - window.word_offset,
                                                end - window.word_offset, self.mean_tokens, self.max_width))
        if vectors:
            for (text, start, end), vector in zip(keys, torch.stack(vectors).float().cpu()):
                self._pending.setdefault(text, {})[(start, end)] = vector

    def keep(self, text: int, decoded: Sequence[Any]) -> None:
        """``text`` is decoded into ``decoded`` spans: keep their queries, drop those of its other candidates."""
        pending = self._pending.pop(text, {})
        for span in decoded:
            vector = pending.get((span.start, span.end))
            if vector is not None:
                self.found[(text, span.start, span.end)] = vector

    def get(self, text: int, start: int, end: int) -> torch.Tensor | None:
        return self.found.get((text, start, end))
