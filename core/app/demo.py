"""The demo model: SmolLM2-135M-Instruct and two damaged copies of it made with llama.cpp's quantizer,
so the app is useful before the person has a model of their own."""

from __future__ import annotations

from core.demo.prepare import DOWNLOAD_MB, DemoModels, demo_words, prepare_demo

__all__ = ["DOWNLOAD_MB", "DemoModels", "demo_words", "prepare_demo"]
