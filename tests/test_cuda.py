"""KoGNER on a CUDA device: training steps in bf16 autocast, and prediction that agrees with the CPU.

Skipped where no CUDA device is present (CI has none); run on a GPU machine with `pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import pytest
import torch

from kogner.training.collator import KoGNERDataCollator, TeacherTable
from modeling_kogner import KoGNERModel
from toy_data import toy_examples, toy_kg_ids

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
LABELS = ["drug", "disease"]


@pytest.fixture(scope="module")
def cuda_model(tiny_encoder_dir):
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, dropout=0.1, teacher_dim=12,
                                     distillation_dim=16)
    return model.to("cuda")


def test_bf16_training_steps_learn_on_cuda(cuda_model):
    ids = toy_kg_ids()
    teacher = TeacherTable(torch.randn(len(ids), 12), {kg_id: row for row, kg_id in enumerate(ids)})
    collator = KoGNERDataCollator.from_model(cuda_model, teacher=teacher)
    optimizer = torch.optim.AdamW([p for p in cuda_model.parameters() if p.requires_grad], lr=5e-3)
    examples = toy_examples()
    cuda_model.train()
    losses = []
    for step in range(60):
        batch = collator([examples[(step * 8 + i) % len(examples)] for i in range(8)])
        batch = {key: value.to("cuda") for key, value in batch.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            output = cuda_model(**batch)
        assert output.logits.dtype == torch.bfloat16
        assert torch.isfinite(output.loss)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append((output.lang_loss.item(), output.dist_loss.item()))
    assert sum(l for l, _ in losses[-5:]) < 0.5 * sum(l for l, _ in losses[:5])
    assert sum(d for _, d in losses[-5:]) < sum(d for _, d in losses[:5])


def test_cuda_predictions_match_cpu(cuda_model):
    cuda_model.eval()
    texts = [example["text"] for example in toy_examples()[:8]]
    on_cuda = cuda_model.batch_predict_entities(texts, LABELS, threshold=0.3, batch_size=4)
    cpu_model = cuda_model.to("cpu")
    try:
        on_cpu = cpu_model.batch_predict_entities(texts, LABELS, threshold=0.3, batch_size=4)
    finally:
        cuda_model.to("cuda")
    for gpu_entities, cpu_entities in zip(on_cuda, on_cpu):
        assert [(e["start"], e["end"], e["label"]) for e in gpu_entities] == [
            (e["start"], e["end"], e["label"]) for e in cpu_entities
        ]
        for a, b in zip(gpu_entities, cpu_entities):
            assert a["score"] == pytest.approx(b["score"], abs=1e-3)
