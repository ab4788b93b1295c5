"""Command-line options of the teacher build, mapped onto :class:`TeacherSettings`."""

from __future__ import annotations

import argparse
from dataclasses import fields

from .settings import TeacherSettings


def add_teacher_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`TeacherSettings` field, with its default."""
    teacher = parser.add_argument_group("teacher (defaults fit a 2-core CPU)")
    defaults = TeacherSettings()
    teacher.add_argument("--encoder", default=None,
                         help="HF encoder path or Hub id for Z (default: offline all-MiniLM-L6-v2 package)")
    teacher.add_argument("--text-max-length", type=int, default=defaults.text_max_length,
                         help="max tokens of name + description (default %(default)s)")
    teacher.add_argument("--text-batch-size", type=int, default=defaults.text_batch_size, help="default %(default)s")
    teacher.add_argument("--gnn-layers", type=int, default=defaults.gnn_layers,
                         help="TransformerConv layers K (default %(default)s)")
    teacher.add_argument("--gnn-heads", type=int, default=defaults.gnn_heads, help="attention heads (default %(default)s)")
    teacher.add_argument("--gnn-hidden", type=int, default=defaults.gnn_hidden,
                         help="width of Z' (0 = Z's width, as in the paper; default %(default)s)")
    teacher.add_argument("--gnn-max-neighbors", type=int, default=defaults.gnn_max_neighbors,
                         help="max incoming messages per node per layer (0 = all; default %(default)s)")
    teacher.add_argument("--gnn-epochs", type=int, default=defaults.gnn_epochs, help="default %(default)s")
    teacher.add_argument("--gnn-lr", type=float, default=defaults.gnn_lr, help="default %(default)s")
    teacher.add_argument("--gnn-dropout", type=float, default=defaults.gnn_dropout, help="default %(default)s")
    teacher.add_argument("--gnn-test-fraction", type=float, default=defaults.gnn_test_fraction,
                         help="held-out fraction per node type for the accuracy report (default %(default)s)")
    teacher.add_argument("--gnn-full-batch-max-nodes", type=int, default=defaults.gnn_full_batch_max_nodes,
                         help="above this many nodes train on sampled mini-batches (default %(default)s)")
    teacher.add_argument("--gnn-batch-size", type=int, default=defaults.gnn_batch_size,
                         help="seed nodes per mini-batch (default %(default)s)")
    teacher.add_argument("--gnn-fanouts", type=int, nargs="+", default=list(defaults.gnn_fanouts),
                         help="neighbours sampled per hop in mini-batch mode (default %(default)s)")
    teacher.add_argument("--transr-dim", type=int, default=defaults.transr_dim,
                         help="TransR (and TransE) entity dim d'' (default %(default)s)")
    teacher.add_argument("--transr-relation-dim", type=int, default=0,
                         help="TransR relation space dim k <= d'' (0 = d'', identity projections at the start)")
    teacher.add_argument("--transr-init-epochs", type=int, default=defaults.transr_init_epochs,
                         help="TransE epochs: the baseline and TransR's initialisation (default %(default)s)")
    teacher.add_argument("--transr-epochs", type=int, default=defaults.transr_epochs,
                         help="TransR epochs after the TransE initialisation (default %(default)s)")
    teacher.add_argument("--transr-batch-size", type=int, default=defaults.transr_batch_size, help="default %(default)s")
    teacher.add_argument("--transr-init-lr", type=float, default=defaults.transr_init_lr,
                         help="TransE learning rate (default %(default)s)")
    teacher.add_argument("--transr-lr", type=float, default=defaults.transr_lr,
                         help="TransR learning rate (default %(default)s)")
    teacher.add_argument("--transr-negatives", type=int, default=defaults.transr_negatives,
                         help="corrupted triples per training triple (default %(default)s)")
    teacher.add_argument("--transr-margin", type=float, default=defaults.transr_margin,
                         help="margin of the self-adversarial negative sampling loss (default %(default)s)")
    teacher.add_argument("--transr-max-train-triples", type=int, default=0,
                         help="cap on training triples, keeping one per entity (0 = all, the default)")
    teacher.add_argument("--transr-max-eval-triples", type=int, default=defaults.transr_max_eval_triples,
                         help="held-out triples ranked for MRR/Hits (default %(default)s)")
    teacher.add_argument("--seed", type=int, default=defaults.seed, help="default %(default)s")
    teacher.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def settings_from_args(args: argparse.Namespace) -> TeacherSettings:
    values = {f.name: getattr(args, f.name) for f in fields(TeacherSettings) if hasattr(args, f.name)}
    values["gnn_fanouts"] = tuple(values["gnn_fanouts"])
    for optional in ("transr_max_train_triples", "transr_relation_dim", "gnn_hidden", "gnn_max_neighbors"):
        values[optional] = values[optional] or None
    return TeacherSettings(**values)
