"""Phase 5, production: ONNX export with parity, int8, a distilled fast surrogate, latency benchmark, model card, `predict`."""
