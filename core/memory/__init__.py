"""What a GGUF model needs in memory under llama.cpp, and what fits — one module per job.

- `shape`: the model's shape, built once from the (already validated) profile, with its
  sliding-window pattern; `ModelShape.requantized` derives the what-ifs at other quantizations.
- `compute_graph`: llama.cpp's graph and allocator, replayed for the exact compute buffer.
- `parts`: the settings as llama.cpp applies them, the KV cache and the compute buffers for one
  (shape, settings), closed forms and cached replays.
- `estimate`: placement on the devices and the per-device sums (`estimate`).
- `search`: the largest context and the most GPU layers that fit.
- `options`: other settings and smaller files that would fit (`FitOption`).
- `upgrade`: which hardware would, when nothing reasonable fits.
- `speed`: memory-bound decode speed. `arithmetic`: every figure's sum as text.
- `plan`: the whole answer (`FitReport`, `plan`, `plan_with_advice`) for `fit` and the vram check;
  `FitReport.one_change` is the first option that fits at a usable speed, and the upgrade is asked
  for only when there is none.
- `file_fit`: "fits your GPU" for a list of files (the Model page's found models).
"""
