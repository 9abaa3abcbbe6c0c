"""The engines that run a model, one module each (llama.cpp, Ollama, ...), listed in core.engines.registry."""
