"""Data of the LLM: one instruction pair per planet, tokenised, with the fusion model's reading of it.

Splits are fusion's (its data module: the universe's planet split, minus held-out planets an
encoder was trained on), so no held-out planet of the LLM was seen by fusion or its encoders.
Per planet: question + answer tokens (labels only on the answer), fusion's embedding of the
planet (the projector's input) and fusion's own predictions (climate state, habitable fraction,
P(biosphere)), against which the LLM's answers are also scored. The question gives what fusion
reads — its catalog entry and, for a planet asked about with observations, the gases its spectrum's
retrieval detected (fusion's own gases modality) — and fusion reads every modality for such a
planet, the parameters alone for the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...data.observation import catalog_view, unknown_atmosphere
from ...data.splits import treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...errors import UserError
from ...runs.run import open_run
from ...timing import one_off
from ..multimodal.data import MultimodalDataModule
from ..multimodal.load import load_fusion
from ..multimodal.pretrained import pretrained_components
from .instructions import instruction_pairs
from .model import train_tokenizer


class LLMDataModule(SplitDataModule):
    def __init__(self, cfg, universe, num_workers: int = 0):
        super().__init__()
        self.cfg, self.universe = cfg, universe
        self.lc = cfg.components.llm
        self.batch_size, self.num_workers, self.seed = self.lc.batch_size, num_workers, cfg.run.seed
        self.datasets: dict[str, PlanetTensors] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.pairs = {}
        self.tokenizer = None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        readings, self.indices, observations = fusion_readings(self.lc.fusion, self.universe)
        planets = np.concatenate(list(self.indices.values()))
        pairs = instruction_pairs(self.universe, planets, self.seed, observations["catalog"], observations["detections"], self.lc.observed_share)
        self.pairs = {p.planet: p for p in pairs}
        self.tokenizer = build_tokenizer(self.lc, [self.text(p) for p in self.indices["train"]])
        for name, idx in self.indices.items():
            ids, mask, labels = self.encode(idx)
            observed = torch.tensor([self.pairs[int(p)].observed for p in idx])
            seen = {key: torch.where(observed.view(-1, *[1] * (full.dim() - 1)), full, readings["parameters"][name][key])
                    for key, full in readings["all"][name].items()}
            self.datasets[name] = PlanetTensors(input_ids=ids, attention_mask=mask, labels=labels, planet=torch.from_numpy(idx),
                                                observed=observed, **{f"fusion_{k}": v for k, v in seen.items()})

    def text(self, planet: int) -> str:
        pair = self.pairs[int(planet)]
        return f"{pair.question}\n{pair.answer}"

    def encode(self, planets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-padded token ids, attention mask and labels (-100 on the question and the padding)."""
        tok, length = self.tokenizer, self.lc.max_length
        ids = torch.full((len(planets), length), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(planets), length), dtype=torch.long)
        labels = torch.full((len(planets), length), -100, dtype=torch.long)
        for row, planet in enumerate(planets):
            question = self.question_ids(planet)[0].tolist()
            answer = tok(self.pairs[int(planet)].answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            tokens = (question + answer)[:length]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
            labels[row, len(question) : len(tokens)] = ids[row, len(question) : len(tokens)]
        return ids, mask, labels

    def question_ids(self, planet: int) -> torch.Tensor:
        return question_token_ids(self.tokenizer, self.pairs[int(planet)].question)

    def treatment(self) -> dict:
        self.setup()
        return treatment_record(self.indices, {"tokenizer": self.lc.model_name_or_path or f"byte-level BPE, {len(self.tokenizer)} tokens, trained on the train split",
                                               "fusion_run": str(self.lc.fusion)})


def question_token_ids(tokenizer, question: str) -> torch.Tensor:
    """`[1, n]` token ids of a question as the model reads it: [BOS], the question, a newline."""
    ids = tokenizer(question + "\n", add_special_tokens=False)["input_ids"]
    return torch.tensor([([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + ids])


def build_tokenizer(lc, train_texts: list[str]):
    from transformers import AutoTokenizer

    if lc.model_name_or_path is None:
        with one_off("tokenizer training"):
            return train_tokenizer(train_texts, lc.vocab_size)
    tokenizer = AutoTokenizer.from_pretrained(lc.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@torch.inference_mode()
def fusion_readings(fusion_run: str | None, universe):
    """Fusion's reading of every planet of its splits, seeing every modality ("all") or the
    parameters alone ("parameters"): per split, `embedding` [N, d], predicted `state`,
    `habitable` fraction and `p_biosphere`; the splits' planets; and what an observer has of every
    planet (`catalog`: its catalog view, `detections`: the retrieval's report, None without a gases modality)."""
    if fusion_run is None:
        raise UserError("components.llm.fusion is not set: the LLM reads the fusion model's embedding — run `python train.py --mode full`, "
                        "or set components.llm.fusion=<run directory of a --mode full run with a finished phase 2>")
    model = load_fusion(open_run(Path(fusion_run)))
    datamodule = MultimodalDataModule(model.cfg, universe, pretrained_components(model.cfg))
    datamodule.setup()
    parameters_only = torch.tensor([m == "parameters" for m in model.modalities])
    readings = {"all": {}, "parameters": {}}
    for name, dataset in datamodule.datasets.items():
        for view in readings:
            chunks = []
            for start in range(0, len(dataset), 256):
                batch = dataset[list(range(start, min(start + 256, len(dataset))))]
                present = batch["available"] if view == "all" else parameters_only.expand_as(batch["available"])
                chunks.append(fusion_outputs(model.module.model, batch, present))
            readings[view][name] = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
    observations = {"catalog": observed_catalog(model.cfg, universe),
                    "detections": datamodule.every_planet.tensors["gases.observed"].numpy() if "gases" in model.modalities else None}
    return readings, {k: np.asarray(v) for k, v in datamodule.indices.items()}, observations


def observed_catalog(cfg, universe):
    """The catalog view fusion's parameters modality reads (the same noise draw), as a table."""
    return catalog_view(universe.parameters, cfg.data.observation.catalog_noise.model_dump(), unknown_atmosphere(cfg.data.universe), cfg.run.seed)


def fusion_outputs(fusion, batch: dict, present: torch.Tensor) -> dict[str, torch.Tensor]:
    """Embedding (float32), predicted climate state and habitable fraction of a fusion forward pass."""
    out = fusion(batch, present)
    return {"embedding": out["embedding"].float(), "state": out["state_logits"].argmax(dim=-1), "habitable": out["habitable_fraction"].float(),
            "p_biosphere": torch.sigmoid(out["biosphere_logit"]).float()}


def build_datamodule(cfg, universe) -> LLMDataModule:
    return LLMDataModule(cfg, universe, cfg.data.num_workers)
