"""The LLM's parts (issue #8, second part), with a tiny model built here: no network, no downloaded weights."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from astrotrain.components.llm.instructions import instruction_pairs
from astrotrain.components.llm.model import PrefixProjector, load_causal_lm, prefixed_inputs, tiny_llama, train_tokenizer, with_lora
from astrotrain.config.schema import CatalogNoise, UniverseConfig
from astrotrain.data.observation import catalog_view, unknown_atmosphere
from astrotrain.errors import UserError
from astrotrain.universe.generate import ensure_universe

D_FUSION = 16


@pytest.fixture(scope="module")
def corpus(data_cache):
    universe = ensure_universe(UniverseConfig(n_planets=200, cache_dir=str(data_cache)), progress=False)
    catalog = catalog_view(universe.parameters, CatalogNoise().model_dump(), unknown_atmosphere(UniverseConfig()), seed=0)
    return [f"{p.question}\n{p.answer}" for p in instruction_pairs(universe, range(40), 0, catalog)]


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(corpus, vocab_size=400)


def tiny(tokenizer, seed=0):
    return tiny_llama(len(tokenizer), hidden=32, layers=2, heads=2, intermediate=64, max_positions=512, seed=seed)


def batch(tokenizer, texts):
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=256)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return enc["input_ids"], enc["attention_mask"], labels


def test_the_local_tokenizer_is_lossless_on_the_corpus(tokenizer, corpus):
    for text in corpus[:10]:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert len(tokenizer) == 400


def test_lora_with_a_fusion_prefix_trains_only_adapters_and_projector_and_the_loss_falls(tokenizer, corpus):
    torch.manual_seed(0)
    base = tiny(tokenizer)  # as the offline default does: pre-train the tiny model briefly on the corpus, then LoRA
    ids, mask, labels = batch(tokenizer, corpus[:24])
    optimizer = torch.optim.AdamW(base.parameters(), lr=3e-3)
    for _ in range(60):
        loss = base(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model = with_lora(base, r=8, alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    projector = PrefixProjector(D_FUSION, hidden=32, k=2)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    ids, mask, labels = batch(tokenizer, corpus[24:32])  # pairs the pre-training never saw
    fusion = torch.randn(8, D_FUSION)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad] + list(projector.parameters()), lr=3e-2)
    losses = []
    for _ in range(80):
        loss = model(**prefixed_inputs(model, projector, fusion, ids, mask, labels)).loss
        optimizer.zero_grad()
        loss.backward()
        if not losses:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in projector.parameters())  # the prefix is learned
        optimizer.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.9 * losses[0]


def test_saved_adapters_reload_to_identical_logits_and_merging_changes_nothing(tokenizer, corpus, tmp_path):
    from peft import PeftModel

    torch.manual_seed(1)
    model = with_lora(tiny(tokenizer, seed=3), r=4, alpha=8)
    for name, p in model.named_parameters():  # non-zero adapters (LoRA's B starts at zero)
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    ids, mask, _ = batch(tokenizer, corpus[:2])
    model.eval()
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    reloaded = PeftModel.from_pretrained(tiny(tokenizer, seed=3), tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids, attention_mask=mask).logits, before)
        merged = reloaded.merge_and_unload()
        assert not any("lora_" in n for n, _ in merged.named_parameters())
        torch.testing.assert_close(merged(input_ids=ids, attention_mask=mask).logits, before, atol=1e-5, rtol=1e-5)
        base = tiny(tokenizer, seed=3).eval()
        assert not torch.allclose(base(input_ids=ids, attention_mask=mask).logits, before, atol=1e-3)  # the adapters mattered


def test_a_local_model_directory_loads_and_a_bad_name_is_a_clear_error(tokenizer, corpus, tmp_path):
    model = tiny(tokenizer, seed=5).eval()
    model.save_pretrained(tmp_path / "model")
    ids, mask, _ = batch(tokenizer, corpus[:1])
    loaded = load_causal_lm(str(tmp_path / "model")).eval()
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids, attention_mask=mask).logits, model(input_ids=ids, attention_mask=mask).logits)
    with pytest.raises(UserError, match="llm.model_name_or_path"):
        load_causal_lm(str(tmp_path / "no-such-model"))


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed: the error path cannot occur")
def test_qlora_without_bitsandbytes_says_how_to_install_it_or_use_lora(tmp_path):
    with pytest.raises(UserError, match=r"pip install 'astrotrain\[qlora\]'.*llm.quantization=none"):
        load_causal_lm(str(tmp_path), quantization="4bit")


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available(),
                    reason="QLoRA needs bitsandbytes and a CUDA GPU (pip install 'astrotrain[qlora]')")
def test_qlora_path_loads_4bit_weights_and_trains_adapters(tokenizer, corpus, tmp_path):  # pragma: no cover - GPU machines
    tiny(tokenizer).save_pretrained(tmp_path / "model")
    model = with_lora(load_causal_lm(str(tmp_path / "model"), quantization="4bit"), r=4, alpha=8)
    ids, mask, labels = batch(tokenizer, corpus[:2])
    loss = model(input_ids=ids.cuda(), attention_mask=mask.cuda(), labels=labels.cuda()).loss
    loss.backward()
    assert torch.isfinite(loss)


def test_the_prefix_goes_in_front_of_the_question_and_is_never_a_label(tokenizer, corpus):
    model = tiny(tokenizer)
    projector = PrefixProjector(D_FUSION, hidden=32, k=3)
    ids, mask, labels = batch(tokenizer, corpus[:2])
    fusion = torch.randn(2, D_FUSION)
    out = prefixed_inputs(model, projector, fusion, ids, mask, labels)
    with torch.no_grad():
        torch.testing.assert_close(out["inputs_embeds"][:, :3], projector(fusion))
        torch.testing.assert_close(out["inputs_embeds"][:, 3:], model.get_input_embeddings()(ids))
    assert out["attention_mask"][:, :3].eq(1).all() and out["attention_mask"][:, 3:].equal(mask)
    assert out["labels"][:, :3].eq(-100).all() and out["labels"][:, 3:].equal(labels)
    # prefix_tokens=0 (the ablation): the question's own tokens, nothing in front
    plain = prefixed_inputs(model, None, fusion, ids, mask, labels)
    assert plain["inputs_embeds"].shape[1] == ids.shape[1] and plain["labels"].equal(labels)
