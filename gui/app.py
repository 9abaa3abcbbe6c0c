"""Start Quant Doctor's window.

`quantdoctor` opens the app; `--demo` starts with the demo model; `--open PATH` with a model of
yours. Headless hooks for packaging and docs: `--self-test` opens the window offscreen, runs the
demo diagnosis end to end and exits 0 when it worked; `--screenshot OUT.png [--page NAME]
[--size WxH] [--theme light|dark]` renders a page offscreen (with the demo, or `--open PATH`) and
saves it; `--screenshots DIR` saves every page, light and dark, at 1366×768 and 900×600.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from core.textnum import PIXELS, SECONDS, decimal_argument, read_whole, shown

PAGES = ("start", "machine", "model", "setup", "diagnosis", "compare", "advice", "export")


def size_arg(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    width, height = read_whole(w, PIXELS), read_whole(h, PIXELS)
    if width.value is None or height.value is None:
        why = width.reason or height.reason
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1366x768, not '{shown(text)}' (a side {why})")
    return width.value, height.value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="quantdoctor", description="Quant Doctor: why did my quantized model get worse?"
    )
    parser.add_argument("--demo", action="store_true", help="start with the demo model")
    parser.add_argument("--open", metavar="PATH", help="start with this model file or folder")
    parser.add_argument(
        "--self-test", action="store_true", help="offscreen: run the demo diagnosis, exit 0 if it worked"
    )
    parser.add_argument(
        "--symptom", action="append", default=[], metavar="WHAT",
        help="what went wrong (repeatable), as ticked on the start page: loops, nonsense, forgets, ...",
    )  # fmt: skip
    parser.add_argument("--screenshot", metavar="OUT.png", help="offscreen: save a picture of a page and exit")
    parser.add_argument("--page", choices=PAGES, default="diagnosis", help="the page for --screenshot")
    parser.add_argument("--size", type=size_arg, metavar="WxH", help="window size for --screenshot (e.g. 900x600)")
    parser.add_argument("--theme", choices=("light", "dark"), help="colours for --screenshot (default: the system's)")
    parser.add_argument("--screenshots", metavar="DIR", help="offscreen: save every page, light and dark, two sizes")
    parser.add_argument("--no-compare", action="store_true", help=argparse.SUPPRESS)  # quick layout reviews
    parser.add_argument("--timeout", type=decimal_argument(SECONDS), default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("--quit-when-shown", action="store_true", help=argparse.SUPPRESS)  # start-up timing
    return parser.parse_args(argv)


_shown: dict[str, Any] = {}


def _on_signal(signum: int) -> None:
    """SIGTERM / SIGHUP: close the window like the person would (jobs stopped; core.children.cleanup
    has already killed the workers and removed the temporary folders), or exit if there is none yet."""
    window, app = _shown.get("window"), _shown.get("app")
    if window is None or app is None:
        raise SystemExit(128 + signum)
    window.close()
    app.quit()


def _tick_for_signals(app: Any) -> None:
    """Python runs signal handlers only when it holds control: a timer hands it control a few times a
    second while Qt's event loop waits in C++."""
    from PySide6.QtCore import QTimer

    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(200)


def main(argv: Sequence[str] | None = None) -> int:
    from core.children import install_signal_cleanup

    install_signal_cleanup(_on_signal)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    headless = args.self_test or bool(args.screenshot) or bool(args.screenshots) or args.quit_when_shown
    if headless:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from pathlib import Path

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from gui import screenshots, style
    from gui.crash import CrashHook
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Quant Doctor")
    app.setOrganizationName("QuantDoctor")
    CrashHook().install()
    style.apply(app, dark=None if args.theme is None else args.theme == "dark")  # type: ignore[arg-type]
    settings = None
    if headless:  # leave the person's saved settings alone
        settings = QSettings(
            os.path.join(os.environ.get("TMPDIR", "/tmp"), "quantdoctor-headless.ini"), QSettings.Format.IniFormat
        )
        settings.clear()
    window = MainWindow(settings, detect_hardware=not args.quit_when_shown)
    window.show()
    _shown.update(window=window, app=app)
    _tick_for_signals(app)
    if args.quit_when_shown:
        QTimer.singleShot(0, lambda: (print("shown", flush=True), app.quit()))
        return app.exec()
    window.model_page.refresh_found()
    if args.symptom:
        window.state.set_symptoms(args.symptom)
    if args.screenshots:  # the first start, before any model: the start page
        out_dir = Path(args.screenshots)
        for dark in (False, True):
            for size in screenshots.SIZES:
                screenshots.capture(window, "start", out_dir / screenshots.file_name("start", size, dark), size, dark)
        screenshots.set_theme(window, False)

    if args.open:
        window.state.open_model(args.open)
    elif args.demo or headless:
        window.start_demo()
    if not headless:
        return app.exec()

    outcome = {"rc": 1, "done": 0}

    def finish() -> None:
        if window.state.busy or outcome["done"]:
            return
        d = window.state.diagnosis
        wants_compare = not args.no_compare and (args.screenshots or (args.screenshot and args.page == "compare"))
        if wants_compare and window.state.comparison is None and d is not None:
            for name, box in window.compare_page.domain_boxes.items():
                box.setChecked(name in ("general", "code"))
            window.compare_page.run_demo_comparison()  # the page shows a real comparison of the demo pair
            return
        outcome["done"] = 1
        if args.screenshots:
            pages = [p for p in PAGES if p != "start"]
            saved = screenshots.capture_all(window, Path(args.screenshots), pages)
            print(f"screenshots: saved {len(saved)} of {len(pages) * 4} in {args.screenshots}")
            outcome["rc"] = 0 if len(saved) == len(pages) * 4 else 1
        elif args.screenshot:
            dark = None if args.theme is None else args.theme == "dark"
            ok = screenshots.capture(window, args.page, Path(args.screenshot), args.size, dark)
            print(f"screenshot: {'saved ' + args.screenshot if ok else 'FAILED'}")
            outcome["rc"] = 0 if ok else 1
        else:
            ok = d is not None and d.top is not None and d.top.id == "quant-tier" and d.top.severity == "critical"
            cards = len(window.diagnosis_page.cards)
            print(f"self-test: {'ok' if ok and cards else 'FAILED'} ({cards} findings shown; top: "
                  f"{d.top.id + ' ' + d.top.severity if d and d.top else 'none'})")  # fmt: skip
            outcome["rc"] = 0 if ok and cards else 1
        app.quit()

    def on_error(exc: BaseException) -> None:
        print(f"self-test: FAILED ({exc})")
        app.quit()

    window.state.error.connect(on_error)
    window.state.diagnosis_changed.connect(lambda _: QTimer.singleShot(100, finish))
    window.state.busy_changed.connect(lambda busy: busy or QTimer.singleShot(100, finish))
    QTimer.singleShot(int(args.timeout * 1000), app.quit)
    app.exec()
    return outcome["rc"]


if __name__ == "__main__":
    sys.exit(main())
