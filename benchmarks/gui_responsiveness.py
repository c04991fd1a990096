"""How long the desktop app's event loop stalls on a big library (issue 11).

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/gui_responsiveness.py [--videos 100000]
[--keep DIR] [--profile OUT.prof] [--stalls]``.

It builds a library with ``benchmarks/library.py``'s generator (in a temp folder, or in
``--keep DIR`` and reused when it is already there), opens the real ``MainWindow`` over it
(1280x800, no workers, no watcher) and, for each action a person takes — open the library,
tick a genre, type a search word letter by letter, clear it, sort by title / genres / a genre's
probability, select all, drag the scrollbar, switch "any" matching — records:

* **longest stall**: a ``QTimer`` ticks every 10 ms on the GUI thread; the longest gap
  between two ticks, less the 10 ms, while the action runs and until its result is shown,
  is how long the window was frozen (a click, a key or a repaint waited that long);
* **result shown**: time from the action until the view shows its result (rows swapped in,
  counts shown, pages of the visible rows read).

Start-up (open the library, build the window, first paint) happens before the event loop
runs, with nothing on screen yet to freeze: its row gives the time to the first paint, and
the stalls of opening are counted from that paint until the rows are shown.

``--busy N [--busy-nice K]`` keeps N CPU-bound processes running meanwhile, at niceness K
(default 10, as the app's worker processes run: ``[jobs] nice``), to measure the window while
videos are processed; ``--busy-nice 0`` shows what the workers' lower priority buys.

The target is no stall over 100 ms.  The machine's load matters (``uptime`` is printed).

``--stalls`` says where each stall over 40 ms came from: a watchdog thread, while a tick is
late, samples every thread's Python stack every 2 ms, and per stall prints the GUI thread's
own CPU time (its work: a reset, a paint), its wait for a CPU (the machine's load: runnable,
not running), the rest (asleep: waiting for the GIL, or a lock), the machine's stolen time,
and how late the watchdog itself was: it needs the GIL too, so a watchdog as late as the
stall means one thread held the GIL throughout (a long C call), a punctual one means many
short waits (each call into Python from a paint waiting its turn).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TARGET_MS = 100.0
STALLS = False
SAMPLER: StallSampler | None = None  # ``--stalls``: what the GUI thread was doing when late


class StallSampler:
    """A watchdog thread: while a tick of the ``StallMeter`` is over ``late`` s overdue, it
    samples the GUI thread's Python stack (``sys._current_frames``) and the other threads'
    every 2 ms, and at the end of each stall records how much CPU the GUI thread itself used
    during it: about the whole stall means the GUI thread was busy (its own work), little
    means it was waiting (for the GIL, held by a worker)."""

    def __init__(self, meter: StallMeter, late: float = 0.03) -> None:
        import threading
        from collections import Counter

        self.meter, self.late = meter, late
        self.action = "open"
        self.main = threading.main_thread().ident
        self.clock = time.pthread_getcpuclockid(self.main)
        self.task = f"/proc/self/task/{threading.main_thread().native_id}"
        self.schedstat = f"{self.task}/schedstat"
        self.gui: Counter = Counter()
        self.others: Counter = Counter()
        # action, wall ms, GUI-thread CPU ms, ms it waited for a CPU (runnable, not running):
        # what is neither was waiting on a lock (the GIL)
        # and the machine's stolen CPU time (all CPUs)
        # and the longest wait of this (watchdog) thread itself, which needs the GIL too
        self.stalls: list[tuple[str, float, float, float, float, float]] = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _stack(frame, depth: int = 7) -> str:  # noqa: ANN001 - a frame
        parts = []
        while frame is not None and len(parts) < depth:
            co = frame.f_code
            parts.append(f"{Path(co.co_filename).name}:{frame.f_lineno}:{co.co_name}")
            frame = frame.f_back
        return " < ".join(parts)

    def _state(self) -> str:
        """The GUI thread's state (R running, S sleeping, D disk) and the kernel function it
        sleeps in (a futex: a lock such as the GIL; else I/O, a poll...)."""
        try:
            with open(f"{self.task}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"{self.task}/wchan") as f:
                return f"{state} {f.read().strip() or '-'}"
        except (OSError, IndexError):
            return "?"

    def _runqueue(self) -> float:
        try:
            with open(self.schedstat) as f:
                return int(f.read().split()[1]) / 1e9
        except OSError:
            return 0.0

    @staticmethod
    def _steal() -> float:
        """The machine's CPUs' stolen time (s, all CPUs): a virtual machine not run at all."""
        try:
            with open("/proc/stat") as f:
                return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def _run(self) -> None:
        import threading
        from collections import deque

        history: deque = deque(maxlen=200)  # (time, GUI-thread CPU, its runqueue wait, steal)
        in_stall, since, cpu0, rq0, st0, last_seen = False, 0.0, 0.0, 0.0, 0.0, 0.0
        prev, own_gap = time.perf_counter(), 0.0  # this thread's own longest wait (the GIL)
        while self.running:
            time.sleep(0.002)
            last = self.meter.last
            now = time.perf_counter()
            own_gap, prev = max(own_gap, now - prev - 0.002), now
            cpu_now, rq_now, st_now = time.clock_gettime(self.clock), self._runqueue(), self._steal()
            history.append((now, cpu_now, rq_now, st_now))
            late = self.meter.timer.isActive() and now - last > 0.010 + self.late
            if in_stall and (not late or last != last_seen):
                self.stalls.append((self.action, (now - since) * 1000, (cpu_now - cpu0) * 1000,
                                    (rq_now - rq0) * 1000, (st_now - st0) * 1000, own_gap * 1000))
                in_stall = False
            if not late:
                continue
            if not in_stall:
                in_stall, since, last_seen, own_gap = True, last + 0.010, last, 0.0
                # the counters as they were when the stall began
                _, cpu0, rq0, st0 = next((h for h in history if h[0] >= since), history[-1])
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                if ident == self.main:
                    self.gui[(self.action, f"({self._state()}) {self._stack(frame)}")] += 1
                else:
                    self.others[(self.action, names.get(ident, "?") + ": " + self._stack(frame, 5))] += 1

    def report(self) -> None:
        self.running = False
        print("\n== stalls over 50 ms: wall / the GUI thread's CPU / its wait for a CPU "
              "(the rest: waiting for the GIL) ==")
        for action, wall, cpu, rq, steal, own in self.stalls:
            if wall > 50:
                print(f"  {action[:30]:<30} {wall:5.0f} ms  cpu {cpu:4.0f}  "
                      f"runqueue {rq:4.0f}  other {wall - cpu - rq:4.0f}  "
                      f"(stolen {steal:3.0f}, watchdog late {own:4.0f})")
        for title, counter in (("GUI thread", self.gui), ("other threads", self.others)):
            print(f"\n== {title}: stacks sampled while late (2 ms samples) ==")
            for (action, stack), n in sorted(counter.items(), key=lambda kv: -kv[1])[:40]:
                print(f"  {n:4d}  [{action[:24]}] {stack}")


class StallMeter:
    """Records the longest gap between 10 ms ticks of a GUI-thread timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last - 0.010)
        self.last = now

    def start(self) -> None:
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.worst = 0.0

    def stop(self) -> float:
        """The longest stall since ``reset`` (ms), counting the time since the last tick."""
        self._tick()
        self.timer.stop()
        return self.worst * 1000


def pump(until: Callable[[], bool], timeout: float = 120.0) -> float:
    """Run the event loop until ``until()``; returns the seconds it took."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    t0 = time.perf_counter()
    while not until():
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the result never showed")
    return time.perf_counter() - t0


def settle(win) -> bool:  # noqa: ANN001 - a MainWindow
    """Rows, counts and every other background read are in."""
    return (not win.model.loading and not win.queries.busy()
            and not win._detail_timer.isActive() and not win.bridge.busy)


def measure(win_factory: Callable[[], object]) -> list[tuple[str, float, float]]:  # noqa: C901
    from PySide6.QtCore import Qt

    global SAMPLER
    meter = StallMeter()
    if STALLS:
        SAMPLER = StallSampler(meter)
    out: list[tuple[str, float, float]] = []

    def act(name: str, do: Callable[[], None], until: Callable[[], bool],
            between: Callable[[], None] | None = None) -> None:
        if SAMPLER is not None:
            SAMPLER.action = name
        meter.start()
        t0 = time.perf_counter()
        do()
        if between is not None:
            between()
        pump(until)
        shown = time.perf_counter() - t0
        pump(lambda: time.perf_counter() - t0 > shown + 0.2)  # what runs just after counts too
        out.append((name, meter.stop(), shown * 1000))

    holder: dict[str, object] = {}

    def open_window() -> None:
        holder["win"] = win_factory()

    # start-up: open the library, build the window, paint it once.  No event loop runs yet
    # (nothing on screen to freeze), so this is a time, not a stall
    from PySide6.QtCore import QCoreApplication

    t0 = time.perf_counter()
    open_window()
    win = holder["win"]
    QCoreApplication.processEvents()  # the first paint
    painted = time.perf_counter() - t0
    out.append(("start: library opened, window painted", float("nan"), painted * 1000))
    # from the first paint: the window must stay live while the rows and counts arrive
    meter.start()
    t1 = time.perf_counter()
    pump(lambda: settle(win) and win.model.rowCount() > 0)
    shown = time.perf_counter() - t1
    pump(lambda: time.perf_counter() - t1 > shown + 0.2)
    out.append(("open: painted until rows shown", meter.stop(), (painted + shown) * 1000))

    model = win.model
    # the floor: nothing happens for 3 s (what the machine's load alone costs)
    act("idle 3 s (baseline: the machine's load)",
        lambda: pump(lambda t=time.perf_counter(): time.perf_counter() - t > 3.0), lambda: True)
    item = win.genre_list.item(win.genre_list.count() - 1 - 9)  # Horror-ish: a mid genre

    def loads_after(n: int) -> Callable[[], bool]:
        return lambda: model.loads > n and settle(win)

    n = model.loads
    act("tick a genre (filter)", lambda: item.setCheckState(Qt.CheckState.Checked), loads_after(n))
    n = model.loads
    act("untick it", lambda: item.setCheckState(Qt.CheckState.Unchecked), loads_after(n))
    n = model.loads

    def type_word() -> None:
        for ch in "night":
            win.search.setText(win.search.text() + ch)
            pump(lambda t=time.perf_counter(): time.perf_counter() - t > 0.08)  # ~12 keys/s

    act("type a search word (5 keys)", type_word, loads_after(n))
    n = model.loads
    act("clear the search", win.search.clear, loads_after(n))
    n = model.loads
    act("sort by title (descending)",
        lambda: win.table.sortByColumn(model.TITLE, Qt.SortOrder.DescendingOrder), loads_after(n))
    n = model.loads
    act("sort by genres column",
        lambda: win.table.sortByColumn(model.GENRES, Qt.SortOrder.AscendingOrder), loads_after(n))
    n = model.loads
    act("sort by a genre's probability",
        lambda: win.filters.sort_genre.setCurrentIndex(8), loads_after(n))
    act("select all (Ctrl+A)", win.table.selectAll,
        lambda: settle(win) and win.selected_count() == model.rowCount())
    win.table.clearSelection()
    pump(lambda: settle(win))
    bar = win.table.verticalScrollBar()

    def drag() -> None:
        for k in range(1, 31):  # 30 steps over the whole range, 30 ms apart
            bar.setValue(bar.maximum() * k // 30)
            pump(lambda t=time.perf_counter(): time.perf_counter() - t > 0.03)

    def visible_page_read() -> bool:
        row = win.table.rowAt(5)
        return settle(win) and row >= 0 and model.record_soon(row) is not None

    act("drag the scrollbar top to bottom", drag, visible_page_read)
    n = model.loads
    win.filters.match.setCurrentIndex(1)  # any
    pump(lambda: settle(win))
    n = model.loads
    a, b = win.genre_list.item(0), win.genre_list.item(1)

    def two_genres() -> None:
        a.setCheckState(Qt.CheckState.Checked)
        b.setCheckState(Qt.CheckState.Checked)

    act("tick two genres, 'any' matching", two_genres, loads_after(n))
    n = model.loads
    act("probability threshold on (50 %)", lambda: win.filters.use_threshold.setChecked(True), loads_after(n))
    # a bulk edit: every Western video (about 1.3 %), "+War" after the question, then undo
    win.filters.use_threshold.setChecked(False)
    win.filters.match.setCurrentIndex(0)
    for i in range(win.genre_list.count()):
        it = win.genre_list.item(i)
        wanted = it.data(Qt.ItemDataRole.UserRole) == "Western"
        it.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
    pump(lambda: settle(win) and model.rowCount() > 0)
    win.table.selectAll()
    pump(lambda: settle(win))
    count = win.selected_count()

    def correct() -> None:
        win.detail.rows["War"].check.click()
        box = win.pending_question
        if box is not None:
            from PySide6.QtWidgets import QMessageBox

            box.button(QMessageBox.StandardButton.Yes).click()

    # an edit is shown when its rows are refreshed: in place for a page or fewer, by a
    # reload for more (``MainWindow.write`` → ``refresh_videos``)
    refreshed = [0]
    refresh_videos = win.refresh_videos

    def counting(ids: list[int]) -> None:
        refresh_videos(ids)
        refreshed[0] += 1

    win.refresh_videos = counting

    def edited(before: int) -> Callable[[], bool]:
        return lambda: (refreshed[0] > before and settle(win) and not win.bridge.busy
                        and not win._refresh_timer.isActive())

    asked = " (asked first)" if count >= 100 else ""
    act(f"bulk '+War' on {count:,} videos{asked}", correct, edited(refreshed[0]))
    act(f"undo it (one step, {count:,} videos)", win.act_undo.trigger, edited(refreshed[0]))
    win.close()
    if SAMPLER is not None:
        SAMPLER.report()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="build (or reuse) the library in this folder")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    ap.add_argument("--stalls", action="store_true",
                    help="sample the GUI thread's stack while a tick is late (a watchdog thread)")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="keep N processes busy meanwhile (numpy work, like the app's workers "
                         "processing videos)")
    ap.add_argument("--busy-nice", type=int, default=10, metavar="K",
                    help="their niceness (default 10, the workers' [jobs] nice; 0: the app's)")
    args = ap.parse_args(argv)
    global STALLS
    STALLS = args.stalls
    busy = start_busy(args.busy, args.busy_nice)
    work = args.keep or Path(tempfile.mkdtemp(prefix="tt-bench-gui-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TRAILERTAGGER_HOME", str(work / "home"))
    path = work / "library.sqlite3"
    try:
        if not path.exists():
            import library as libbench

            t0 = time.perf_counter()
            info = libbench.fill(path, args.videos)
            print(f"library: {info['videos']:,} videos, {info['genre_rows']:,} genre rows, "
                  f"built in {time.perf_counter() - t0:.0f} s")
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from trailertagger.core.app import LibrarySession
        from trailertagger.core.jobs.worker import PoolOptions
        from trailertagger.gui.bridge import JobBridge
        from trailertagger.gui.main_window import MainWindow

        app = QApplication.instance() or QApplication([])

        def factory() -> MainWindow:
            session = LibrarySession.open(path)
            bridge = JobBridge(session, PoolOptions(workers=0), watch=False, rescan_seconds=None)
            win = MainWindow(session, bridge, settings=QSettings(str(work / "gui.ini"),
                                                                 QSettings.Format.IniFormat))
            win.resize(1280, 800)
            win.show()
            return win

        prof = None
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        rows = measure(factory)
        if prof is not None:
            prof.disable()
            prof.dump_stats(str(args.profile))
        app.processEvents()
        load = os.getloadavg()
        print(f"{args.videos:,} videos · {os.cpu_count()} CPUs · load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} · target: no stall over {TARGET_MS:.0f} ms"
              + (f" · {args.busy} busy process(es) at nice {args.busy_nice}" if args.busy else ""))
        print(f"| {'action':<44} | {'longest stall':>13} | {'result shown':>12} |")
        print(f"|{'-' * 46}|{'-' * 15}|{'-' * 14}|")
        worst = 0.0
        for name, stall, shown in rows:
            if stall != stall:  # NaN: start-up, before the event loop runs
                print(f"| {name:<44} | {'(start-up)':>13} | {shown:>9.0f} ms |")
                continue
            flag = " !" if stall > TARGET_MS else ""
            print(f"| {name:<44} | {stall:>10.0f} ms | {shown:>9.0f} ms |{flag}")
            worst = max(worst, stall)
        print(f"longest stall overall: {worst:.0f} ms")
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            print(f"peak memory (RSS) of the process: {peak:.0f} MB")
        except ImportError:  # pragma: no cover - not POSIX
            pass
    finally:
        for p in busy:
            p.kill()
            p.wait()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


BUSY_CODE = """
import os, sys, numpy as np
os.nice(int(sys.argv[1]))
a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
while True:  # matrix products and a Python loop: CPU-bound like a worker's models
    for _ in range(50):
        a = np.tanh(a @ a.T / 256.0)
"""


def start_busy(count: int, nice: int) -> list:
    """``count`` CPU-bound processes at ``nice`` (single-threaded BLAS each)."""
    import subprocess

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_CODE, str(nice)], env=env)
             for _ in range(count)]
    if procs:
        print(f"{count} busy process(es) at nice {nice}")
    return procs


if __name__ == "__main__":
    sys.exit(main())
