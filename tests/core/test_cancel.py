"""The cancel token on a long real ASR run: from the extractor, and through the job worker
(a cancelled job ends within about 2 s, not at the kill after the grace period)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.fixtures_media import audio_media
from trailertagger.core.errors import Cancelled
from trailertagger.core.progress import CancelToken, fraction
from trailertagger.devtools import mediagen

RATE = 16000
STORY = (
    "The old lighthouse keeper watched the storm roll across the dark harbor tonight. "
    "Nobody knew what was waiting for them beyond the mountains. "
    "The detective opened the door and found the room completely empty. "
    "Three friends drove through the desert looking for the lost city of gold. "
    "When the lights went out the whole town heard a scream from the old mill. "
    "She promised her brother that she would come home before the winter. "
    "The captain ordered the crew to turn the ship back toward the island. "
    "Every night the children listened to the strange music coming from the forest. "
)


def long_speech(rate: int, repeats: int = 2) -> np.ndarray:
    """About a minute of espeak-ng speech (the story twice) at ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        samples, src = mediagen.read_wav(mediagen.speech_wav(STORY * repeats, Path(tmp) / "s.wav", wpm=160))
    return mediagen.resample(samples, src, rate)


class SeenToken(CancelToken):
    """A token that notes when the transcription itself first looks at it: the first read
    from a thread other than the caller's (ASR's helper thread, after voice detection,
    right before Whisper starts decoding)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_look = threading.Event()
        self.caller = threading.get_ident()

    @property
    def cancelled(self) -> bool:
        if threading.get_ident() != self.caller:
            self.first_look.set()
        return super().cancelled


def test_cancel_token_and_progress_basics() -> None:
    token = CancelToken()
    assert not token.cancelled and not token.wait(0.01)
    token.raise_if_cancelled()
    token.cancel("user asked")
    assert token.cancelled and token.wait(0) and token.reason == "user asked"
    with pytest.raises(Cancelled, match="user asked") as err:
        token.raise_if_cancelled()
    assert err.value.exit_code == 130
    flag = [False]
    watching = CancelToken(checks=[lambda: flag[0]])
    assert not watching.cancelled
    flag[0] = True
    assert watching.cancelled and watching.wait(1.0)
    assert fraction(5, 10) == 0.5 and fraction(5, None) == 0.0 and fraction(20, 10) == 1.0


def test_run_cancellable_returns_at_once_on_cancel() -> None:
    from trailertagger.core.progress import run_cancellable

    assert run_cancellable(lambda: 42, None) == 42
    assert run_cancellable(lambda: 43, CancelToken()) == 43
    with pytest.raises(KeyError):
        run_cancellable(lambda: {}["x"], CancelToken())
    token = CancelToken()
    steps: list[int] = []
    helper_saw_cancel = threading.Event()

    def uninterruptible_chunks() -> None:  # like a native call: a chunk cannot be cut short
        for i in range(3):
            if token.cancelled:
                helper_saw_cancel.set()
                token.raise_if_cancelled()
            steps.append(i)
            time.sleep(2.0)

    threading.Timer(0.3, token.cancel).start()
    with pytest.raises(Cancelled):
        run_cancellable(uninterruptible_chunks, token)
    assert not helper_saw_cancel.is_set()  # returned while the helper was still in its chunk
    assert helper_saw_cancel.wait(10) and steps == [0]  # ... which stopped at its next check


@pytest.mark.slow
def test_cancel_during_a_long_asr_run_returns_within_2_s(offline_store) -> None:
    from trailertagger.core.extractors.asr import FasterWhisperExtractor

    asr = FasterWhisperExtractor()
    asr.load(offline_store)
    wave = long_speech(RATE)
    assert len(wave) / RATE > 40
    token = SeenToken()
    cancelled_at: list[float] = []

    def cancel_during_decoding() -> None:
        assert token.first_look.wait(120)
        time.sleep(0.5)  # Whisper is decoding its first window now
        cancelled_at.append(time.monotonic())
        token.cancel()

    t = threading.Thread(target=cancel_during_decoding)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        asr.extract(audio_media(wave, RATE), cancel=token)
    ended = time.monotonic()
    t.join()
    waited = ended - cancelled_at[0]
    print(f"\nASR cancelled {cancelled_at[0] - t0:.2f} s into the run, returned {waited:.2f} s later")
    assert waited < 2.0


@pytest.mark.slow
def test_cancelling_a_running_extract_job_ends_it_within_about_2_s(tmp_path) -> None:
    from trailertagger.core.jobs import events as ev
    from trailertagger.core.jobs.queue import EXTRACT
    from trailertagger.core.jobs.watcher import scan_folder
    from trailertagger.core.jobs.worker import PoolOptions, WorkerPool
    from trailertagger.core.library.db import open_library
    from trailertagger.core.library.schema import Job

    folder = tmp_path / "films"
    folder.mkdir()
    wave = long_speech(mediagen.AUDIO_RATE)
    mediagen.make_clip(folder / "talk.mp4", duration=round(len(wave) / mediagen.AUDIO_RATE, 2),
                       size=(64, 48), fps=4, audio=wave, audio_channels=1)
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    marker = tmp_path / "markers"
    marker.mkdir()
    # heartbeat 10 s: the cancel must arrive through the pool's prompt "cancel" message, not
    # by waiting for the next heartbeat; grace 60 s: no kill comes to the rescue either
    opts = PoolOptions(workers=1, services="tests.core.test_jobs_support:AsrServices",
                       services_kwargs={"marker_dir": str(marker), "store_dir": str(tmp_path / "store")},
                       settle_seconds=0.2, poll_seconds=0.1, heartbeat_seconds=10.0, lease_seconds=30.0,
                       cancel_grace_seconds=60.0)
    events: list[ev.JobEvent] = []
    done = threading.Event()

    def listen(e: ev.JobEvent) -> None:
        events.append(e)
        if e.kind in ev.TERMINAL:
            done.set()

    pool = WorkerPool(lib_path, opts)
    unsubscribe = pool.bus.subscribe(listen)
    try:
        pool.start()
        deadline = time.monotonic() + 240
        while not (marker / "asr-started").exists():
            assert time.monotonic() < deadline, "the ASR stage never started"
            assert not done.is_set(), [e.message for e in events if e.kind in ev.TERMINAL]
            time.sleep(0.05)
        time.sleep(0.5)
        with lib.read() as s:
            job_id, stage = s.execute(select(Job.id, Job.stage)).one()
        assert stage == EXTRACT
        t0 = time.monotonic()
        assert pool.cancel([job_id]) == 1
        assert done.wait(30)
        waited = time.monotonic() - t0
    finally:
        unsubscribe()
        pool.stop()
    final = [e for e in events if e.kind in ev.TERMINAL]
    print(f"\njob cancelled {waited:.2f} s after the request")
    assert final[-1].kind == ev.CANCELLED and final[-1].job_id == job_id
    with lib.read() as s:
        assert s.get(Job, job_id).status == "cancelled"
    lib.close()
    # 2 s for the extractor + the monitor's 0.3 s poll and IPC (measured 0.2-0.6 s); well
    # under the 10 s heartbeat, so only the prompt "cancel" message can meet it (a merge once
    # lost that message's effect: 3.4-5.8 s, then caught here)
    assert waited < 4.0
