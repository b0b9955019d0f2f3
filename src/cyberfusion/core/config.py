"""Configuration read from the environment, once."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    # Files derived from the installed packages (the compiled warninglists): safe to share
    # between instances and to delete. Defaults to the data directory.
    cache_dir: Path = Path("./var")
    # Web sessions end after this many seconds without a request.
    session_idle_seconds: int = 30 * 60
    # Failed logins in a row before an account is locked, and for how long.
    lockout_threshold: int = 5
    lockout_seconds: int = 15 * 60
    secure_cookies: bool = False
    # Largest submission body accepted (413 above it).
    max_submission_bytes: int = 256 * 1024 * 1024
    # Submissions with more accepted objects or values than this are correlated by a job
    # after they are stored, not in their own transaction.
    inline_correlation_max: int = 20_000
    # Products leaving the organisation show counts below this as "< k" (threat assessments).
    small_cell_k: int = 5
    # Worker processes that work out the enrichment's facts of large batches while the
    # correlation job goes on (0: in the job's own process).
    enrichment_processes: int = 1


def _secret_key(data_dir: Path) -> str:
    """Use CYBERFUSION_SECRET_KEY, else a key generated once and kept in the data directory."""
    from_env = os.environ.get("CYBERFUSION_SECRET_KEY")
    if from_env:
        return from_env
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("CYBERFUSION_DATA_DIR", "./var")).resolve()
    database_url = os.environ.get("CYBERFUSION_DATABASE_URL") or (
        f"sqlite:///{data_dir / 'cyberfusion.sqlite3'}"
    )
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; accept the libpq-style URL users paste.
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    cache_dir = Path(os.environ.get("CYBERFUSION_CACHE_DIR") or data_dir).resolve()
    return Settings(
        data_dir=data_dir,
        cache_dir=cache_dir,
        database_url=database_url,
        secret_key=_secret_key(data_dir),
        secure_cookies=os.environ.get("CYBERFUSION_SECURE_COOKIES", "0") == "1",
        max_submission_bytes=int(
            os.environ.get("CYBERFUSION_MAX_SUBMISSION_BYTES", str(256 * 1024 * 1024))
        ),
        inline_correlation_max=int(os.environ.get("CYBERFUSION_INLINE_CORRELATION_MAX", "20000")),
        small_cell_k=max(1, int(os.environ.get("CYBERFUSION_SMALL_CELL_K", "5"))),
        enrichment_processes=max(
            0,
            int(
                os.environ.get("CYBERFUSION_ENRICHMENT_PROCESSES")
                # A second core, if there is one, for the second process.
                or ("1" if (os.cpu_count() or 1) > 1 else "0")
            ),
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
