"""Every error a person can meet, in one place.

Each error carries a plain message (what happened) and a fix (what to do about it), so the CLI,
the GUI and the report can show both without knowing the error's kind. Modelled on
huggingface_hub's errors module: one base class, one subclass per situation a caller may want to
tell apart.
"""

from __future__ import annotations


class QuantDoctorError(Exception):
    """Base class: something the person can act on, never a bug in Quant Doctor."""

    default_fix = "If this keeps happening, please report it with the file that caused it."

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix if fix is not None else self.default_fix

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"error": type(self).__name__, "message": self.message, "fix": self.fix}


class ModelFileError(QuantDoctorError):
    """The model file or folder could not be read."""

    default_fix = "Check that you picked the right file, or download it again."


class NotAModelFileError(ModelFileError):
    """The file is some other format: an HTML page, a safetensors file, an old GGML file."""


class UnsupportedVersionError(ModelFileError):
    """A GGUF version this reader does not understand."""

    default_fix = "Download a current GGUF of this model (version 2 or 3)."


class IncompleteFileError(ModelFileError):
    """The file ends before its own header says it should: an interrupted download or copy."""

    default_fix = "The download or copy was cut short: download the file again and compare its size."

    def __init__(self, message: str, needed: int, has: int, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.needed = needed
        self.has = has


class CorruptModelFileError(ModelFileError):
    """The header contradicts itself (impossible counts, bad offsets, duplicate keys...)."""

    default_fix = (
        "The file is damaged or was written by a broken tool. Download it again; if a fresh copy "
        "fails the same way, the uploaded file itself is broken: pick another upload of the model."
    )


class MissingShardError(ModelFileError):
    """A split GGUF whose other parts are not next to the one that was opened."""

    default_fix = "Put every part of the split model in the same folder, then open the first part."


class ModelFolderError(ModelFileError):
    """An EXL2 / GPTQ / AWQ folder that cannot be read (config.json, safetensors headers)."""

    default_fix = "Check that the folder is a complete download of the model repository."


class IncompleteModelFolderError(ModelFolderError):
    """A model folder whose weight files hold far less than its config.json declares: a stopped download."""

    default_fix = "Download the model's weight files (.safetensors) again into the same folder."


class DemoUnavailableError(QuantDoctorError):
    """The demo model could not be prepared (offline, no space, quantizer failed)."""

    default_fix = (
        "Connect to the internet once so the demo model can be fetched, or open a model file of your own instead."
    )


class RunnerCrashedError(QuantDoctorError):
    """A llama.cpp job in a child process crashed, was killed, or reported an error."""

    default_fix = (
        "The model runner stopped unexpectedly. Close other programs to free memory and try again; "
        "the app itself is unaffected."
    )


class OutOfSpaceError(QuantDoctorError):
    """A write found no room: the disk or quota is full, or the file hit the size limit (core.files)."""

    default_fix = "Free some disk space (or point QUANTDOCTOR_CACHE_DIR at a disk with room), then try again."


class CancelledError(QuantDoctorError):
    """The person cancelled a long job."""

    default_fix = "Nothing to do: start it again whenever you like."


class SetupError(QuantDoctorError):
    """A setting that makes no sense (an unknown cache type, a negative context, an unreadable config)."""

    default_fix = "Check the setting's spelling; `quantdoctor-cli diagnose --help` lists the accepted values."


# --- Hub (core.hub) -------------------------------------------------------------------------------


class HubError(QuantDoctorError):
    """Talking to the model Hub went wrong (core.hub). Local inspection and diagnosis never need it."""

    default_fix = "Check your internet connection and try again. Inspecting and diagnosing local files still works."


class HubOfflineError(HubError):
    """Offline mode is on (HF_HUB_OFFLINE), so nothing may be asked of the Hub."""

    default_fix = (
        "Unset HF_HUB_OFFLINE (or set it to 0) and connect to the internet to use the Hub. "
        "Inspecting and diagnosing local files works offline."
    )


class HubUnreachableError(HubError):
    """The Hub could not be reached, or answered with a server error."""

    default_fix = "Check your internet connection (and proxy settings), then try again in a few minutes."


class HubTimeoutError(HubUnreachableError):
    """The Hub did not answer in time."""

    default_fix = (
        "The Hub or your connection is slow right now: try again later, or raise the limit with "
        "HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (seconds)."
    )


class HubNotFoundError(HubError):
    """No such repository, revision or file on the Hub (or it is private)."""

    default_fix = (
        "Check the spelling (owner/name, exactly as on the model page). If the repository is private, "
        "log in with an account that may see it."
    )


class HubGatedError(HubError):
    """The repository is gated: its license must be accepted, and the person logged in, before download."""

    default_fix = (
        "Open the model page, accept the license there, then log in (`hf auth login`, or set the HF_TOKEN "
        "environment variable) and try again."
    )


class HubRateLimitedError(HubError):
    """The Hub refused the request because too many were made (HTTP 429)."""

    default_fix = "Wait a few minutes and try again. Logging in raises the Hub's limits."

    def __init__(self, message: str, fix: str | None = None, retry_after_s: int | None = None) -> None:
        super().__init__(message, fix)
        self.retry_after_s = retry_after_s


class HubDownloadError(HubError):
    """A download stopped before the file was complete; what arrived is kept so the next try resumes."""

    default_fix = "Run the download again: it resumes where it stopped."


class ChecksumMismatchError(HubDownloadError):
    """The downloaded file's sha256 differs from the one the Hub publishes; the file was removed."""

    default_fix = (
        "The partial file was deleted. Download it again; if it fails the same way, the connection "
        "(or a proxy) is altering the data."
    )


class DiskFullError(QuantDoctorError):
    """Not enough free disk space for a download."""

    default_fix = "Free some disk space (or point HF_HUB_CACHE at a bigger disk) and try again."

    def __init__(self, message: str, needed: int, free: int, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.needed = needed
        self.free = free


# --- the network door (core.net) ---------------------------------------------------------------------


class NetError(QuantDoctorError):
    """A request through core.net failed: a bad address, no answer, or an answer refused at the door.
    Callers that speak for one kind of server (the Hub, an engine, a remote reference) turn it into their
    own error; the message always names the server, never a header or a token."""

    default_fix = "Check the address and your connection, then try again."


class NetAddressError(NetError):
    """An address that is not an http(s) URL, or one a request may not go to (off this machine, for engines)."""

    default_fix = "Give the address as http://HOST:PORT (or https://...)."


class NetUnreachableError(NetError):
    """Nothing answered: the connection was refused, the name did not resolve, or it dropped."""

    default_fix = "Check that the server is running and the address is right, then try again."


class NetRefusedError(NetUnreachableError):
    """Nothing listens at that address (the connection was refused)."""


class NetTimeoutError(NetUnreachableError):
    """The server did not answer, or stopped answering, within the time allowed."""

    default_fix = "The server or the connection is slow right now: try again later."


class NetRedirectError(NetError):
    """The server redirected to another origin (scheme, host or port), or redirected too many times."""

    default_fix = (
        "Quant Doctor only follows redirects within the same server. Give the address the server redirects "
        "to yourself if you trust it."
    )


class NetAnswerError(NetError):
    """The answer was refused at the door: larger than allowed, in an encoding not asked for, or not HTTP."""

    default_fix = "The server (or something between you and it, such as a proxy) is not answering as it should."


class NetTooLargeError(NetAnswerError):
    """The answer is (or says it is) larger than the most a request of that kind may read."""


# --- evaluation (side-by-side comparison) ---


class ScorerBuildError(QuantDoctorError):
    """The llama.cpp build for this machine's GPU could not be looked up, fetched or started; the CPU path is used."""

    default_fix = "Nothing to do: the comparison runs on the CPU. Try the GPU build again later, when online."


class EvaluationSetupError(QuantDoctorError):
    """A comparison cannot start as asked: bad settings, a missing file, a text too short to score."""

    default_fix = "Check the files and settings you picked for the comparison, then start it again."


class IncompatibleModelsError(QuantDoctorError):
    """The two models do not share a tokenizer, so their token-by-token numbers cannot be compared."""

    default_fix = (
        "Compare two files of the same model: your quant against a higher-precision file (Q8_0, F16) "
        "of exactly that model, or the same file with different settings."
    )


class RemoteEngineError(QuantDoctorError):
    """An OpenAI-compatible server could not be reached, refused the request, or answered nonsense."""

    default_fix = (
        "Check the server's address and that it is running (open URL/v1/models in a browser), and that "
        "it returns log-probabilities (llama-server, vLLM, TabbyAPI and llama-cpp-python's server do)."
    )


# --- hardware and memory (core.hardware, core.hardware.catalog, core.memory.estimate) ---------------------------


class HardwareProfileError(QuantDoctorError):
    """A saved machine profile (--hardware FILE.json) that cannot be read or makes no sense."""

    default_fix = (
        "Write a fresh profile on the machine in question with `quantdoctor-cli gpus --save FILE.json`, "
        'or pick a card from the catalog with --gpu "RTX 4090".'
    )


class UnknownGpuError(QuantDoctorError):
    """A --gpu name that is not in the GPU catalog."""

    default_fix = "Check the spelling, or run `quantdoctor-cli gpus --catalog` to list the cards it knows."

    def __init__(self, message: str, matches: list[str], fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.matches = matches


class MemoryEstimateError(QuantDoctorError):
    """The memory estimate cannot be made: a model without the shape it needs, or impossible settings."""

    default_fix = "Pick a GGUF model file and a context of at least one token."


class ReportError(QuantDoctorError):
    """A report could not be written (no such folder, no permission, an unknown format)."""

    default_fix = "Pick another file name or folder for the report."


class ResourceError(QuantDoctorError):
    """A data file the app ships with (resources/: the known engine defects...) is missing or damaged."""

    default_fix = "Reinstall Quant Doctor: a file it ships with is damaged or was edited by hand."


# --- the person's own engine and its log (core.engines) ------------------------------------------------


class EngineLogError(QuantDoctorError):
    """A log file that cannot be read, or that no engine Quant Doctor knows wrote."""

    default_fix = (
        "Open the log your engine printed when it loaded the model: llama-server's or llama-cli's console, "
        "Ollama's server.log, LM Studio's developer log or koboldcpp's console, saved as a text file."
    )


class EngineNotFoundError(QuantDoctorError):
    """No running engine answered on this machine, or not the one asked for."""

    default_fix = (
        "Start your app (Ollama, LM Studio, llama-server, koboldcpp...) and load the model, then try again; "
        "or give its address, e.g. llama-server:http://127.0.0.1:8081."
    )


class ImpossibleModelShapeError(CorruptModelFileError):
    """The header's dimensions contradict the file's own tensors, or exceed what llama.cpp loads.

    Raised once, where the profile is read (core.model.shape_check), so that nothing later (the
    memory estimate, its searches, the window) ever works on a count taken from a hostile file.
    """


class NotEnoughMemoryError(QuantDoctorError):
    """Loading a model for a comparison would not fit (or did not fit) the memory there is."""

    default_fix = (
        "Free memory (close other programs), use a smaller file of the model, or compare with a smaller "
        "context and a q8_0 KV cache."
    )
