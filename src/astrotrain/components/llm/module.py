"""LightningModule of the LLM: LoRA adapters + the fusion prefix projector, trained on the instruction pairs.

Loss: next-token cross-entropy on the answer tokens only, with k prefix embeddings made from the
planet's fusion embedding in front of the question. Only the LoRA weights and the projector
train. Held-out metric here: perplexity of the answers (val/test); the report hook generates
answers for held-out planets and scores what it parses out of them (report.py).

The offline default (no `model_name_or_path`) first builds a tiny Llama and pre-trains all its
weights on the train split's corpus for `pretrain_epochs` (a plain seeded loop, before Lightning
starts), so that the LoRA phase adapts a model that can already write — the code path a real
model takes from there on is the same.
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from torchmetrics import MeanMetric

from ...timing import one_off
from ..common.heldout import HeldOutMetrics
from ..common.schedule import with_warmup_cosine
from .model import PrefixProjector, load_causal_lm, prefixed_inputs, tiny_llama, with_lora


def trimmed(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch cut to its longest sequence (the tensors are padded to max_length)."""
    n = int(batch["attention_mask"].sum(dim=1).max())
    return {k: (v[:, :n] if k in ("input_ids", "attention_mask", "labels") else v) for k, v in batch.items()}


class LLMModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, model, projector: PrefixProjector | None, tokenizer, before: dict):
        super().__init__()
        self.cfg, self.model, self.projector, self.tokenizer = cfg, model, projector, tokenizer
        self.before = before  # offline pre-training: wall time, validation and test perplexity before LoRA
        self.nll = MeanMetric()

    def loss(self, batch) -> torch.Tensor:
        b = trimmed(batch)
        inputs = prefixed_inputs(self.model, self.projector, b["fusion_embedding"], b["input_ids"], b["attention_mask"], b["labels"])
        return self.model(**inputs).loss

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("train/loss", loss, on_step=True, on_epoch=False, batch_size=len(batch["planet"]))
        return loss

    def _evaluate(self, batch) -> None:
        self.nll.update(self.loss(batch), weight=int((batch["labels"] != -100).sum()))

    def _compute_metrics(self) -> dict[str, torch.Tensor]:
        nll = self.nll.compute()
        self.nll.reset()
        return {"answer_nll": nll, "perplexity": nll.exp()}

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad] + (list(self.projector.parameters()) if self.projector else [])
        optimizer = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, foreach=True)
        return with_warmup_cosine(optimizer, self.trainer, self.cfg)


def pretrain(model, dataset, epochs: int, batch_size: int, lr: float, seed: int) -> None:
    """Full-parameter next-token training on the train corpus (no prefix), in a seeded order."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(dataset), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            b = trimmed(dataset[order[start : start + batch_size].tolist()])
            loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["input_ids"].masked_fill(b["attention_mask"] == 0, -100)).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()


@torch.no_grad()
def answer_perplexity(model, dataset, batch_size: int = 32) -> float:
    """exp(mean NLL of the answer tokens), without a prefix (the base model before LoRA)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(dataset), batch_size):
        b = trimmed(dataset[list(range(start, min(start + batch_size, len(dataset))))])
        n = int((b["labels"] != -100).sum())
        total += float(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss) * n
        count += n
    return math.exp(total / max(count, 1))


def build_module(cfg, datamodule) -> LLMModule:
    lc = cfg.components.llm
    datamodule.setup("fit")
    tokenizer = datamodule.tokenizer
    started = time.perf_counter()
    if lc.model_name_or_path is None:
        intermediate = 8 * round(lc.hidden * 8 / 3 / 8)  # Llama's SwiGLU width, rounded
        base = tiny_llama(len(tokenizer), lc.hidden, lc.layers, lc.heads, intermediate, lc.max_length + lc.prefix_tokens + lc.max_new_tokens, cfg.run.seed)
        with one_off("offline base LM pre-training"):
            pretrain(base, datamodule.datasets["train"], lc.pretrain_epochs, lc.batch_size, 3e-3, cfg.run.seed)
    else:
        base = load_causal_lm(lc.model_name_or_path, quantization=lc.quantization)
    before = {"pretrain_wall_time_s": round(time.perf_counter() - started, 1),
              "val_perplexity_before_lora": answer_perplexity(base, datamodule.datasets["val"]),
              "test_perplexity_before_lora": answer_perplexity(base, datamodule.datasets["test"])}  # the split the LoRA figure is on
    base.train()
    model = with_lora(base, lc.lora_r, lc.lora_alpha, lc.lora_dropout, lc.target_modules)
    d_fusion = datamodule.datasets["train"].tensors["fusion_embedding"].shape[1]
    projector = PrefixProjector(d_fusion, base.get_input_embeddings().weight.shape[1], lc.prefix_tokens) if lc.prefix_tokens else None
    return LLMModule(lc, model, projector, tokenizer, before)
