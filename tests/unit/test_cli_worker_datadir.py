"""The worker keeps Faust's data folder where GHL_SYNC_STREAMS_DATA_DIR says, never in the
working directory (a checkout, or the image's root-owned folder)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from streams.app import create_app
from streams.settings import StreamsSettings


def test_the_data_dir_setting_holds_one_folder_per_app(tmp_path: Path) -> None:
    root = tmp_path / "state" / "worker"
    app = create_app(StreamsSettings(data_dir=root), app_id="ghl-sync-a")
    assert Path(app.conf.datadir) == root / "ghl-sync-a"
    assert root.is_dir()


def test_unset_it_is_a_private_folder_under_the_temp_dir() -> None:
    app = create_app(StreamsSettings(data_dir=None), app_id="ghl-sync-b")
    datadir = Path(app.conf.datadir)
    assert datadir.name == "ghl-sync-b"
    assert datadir.parent.parent == Path(tempfile.gettempdir())
    assert not datadir.is_relative_to(Path.cwd())
    assert datadir.parent.stat().st_mode & 0o077 == 0
