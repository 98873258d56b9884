"""Composite MP4 of a session: a grid with one cell per participant (main-room video) and all
participants' audio mixed, every file placed on one timeline by its wall-clock start.

The work is done by an ``ffmpeg`` child process (Debian's ffmpeg: libx264 + AAC), so decoding and
encoding never touch the server's event loop; its ``-progress`` output drives the job's progress.
Caucus tracks are left out unless asked for (judges and clerks only).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .manifest_view import safe_member

log = logging.getLogger(__name__)

CELL_W, CELL_H, FPS = 320, 240, 15
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


class CompositeError(Exception):
    pass


@dataclass(frozen=True)
class Segment:
    path: Path
    media: str
    start: float
    end: float


@dataclass
class Cell:
    participant: str
    label: str
    video: list[Segment] = field(default_factory=list)


@dataclass
class Plan:
    origin: float
    duration: float
    cells: list[Cell]
    audio: list[Segment]
    columns: int
    rows: int

    @property
    def size(self) -> tuple[int, int]:
        return self.columns * CELL_W, self.rows * CELL_H


def build_plan(
    folders: Sequence[tuple[Path, dict[str, Any]]], *, include_caucus: bool = False
) -> Plan:
    """Lay out the tracks of one session's sealed folders (several after a restart)."""
    cells: dict[str, Cell] = {}
    audio: list[Segment] = []
    starts: list[float] = []
    ends: list[float] = []
    for folder, manifest in folders:
        names = {str(p.get("id")): p for p in manifest.get("participants", [])}
        for f in manifest.get("files", []):
            if f.get("kind") != "track" or (f.get("caucus") and not include_caucus):
                continue
            name = str(f.get("name", ""))
            start = f.get("start_wallclock")
            if not safe_member(name) or not isinstance(start, int | float):
                continue
            path = folder / name
            if not path.is_file():
                continue
            end = f.get("end_wallclock")
            seg = Segment(path, str(f.get("media")), float(start),
                          float(end) if isinstance(end, int | float) else float(start))
            starts.append(seg.start)
            ends.append(seg.end)
            if seg.media == "audio":
                audio.append(seg)
            elif seg.media == "video":
                pid = str(f.get("participant") or name)
                person = names.get(pid, {})
                label = " ".join(str(x) for x in (person.get("role"), person.get("name")) if x)
                cell = cells.setdefault(pid, Cell(pid, label or pid[:8]))
                cell.video.append(seg)
    if not starts:
        raise CompositeError("没有可合成的录像轨道 / no recorded tracks to composite")
    origin = min(starts)
    duration = max(0.5, max(ends) - origin)
    n = max(1, len(cells))
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    ordered = sorted(cells.values(), key=lambda c: min(s.start for s in c.video))
    return Plan(origin, duration, ordered, audio, columns, rows)


def ffmpeg_args(plan: Plan, output: Path, label_dir: Path | None = None) -> list[str]:
    width, height = plan.size
    dur = f"{plan.duration:.3f}"
    args = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1",
            "-nostats",
            "-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={FPS}:d={dur}"]
    inputs = 1
    graph: list[str] = []
    last = "0:v"
    k = 0
    for idx, cell in enumerate(plan.cells):
        x, y = (idx % plan.columns) * CELL_W, (idx // plan.columns) * CELL_H
        for seg in sorted(cell.video, key=lambda s: s.start):
            args += ["-i", str(seg.path)]
            offset = seg.start - plan.origin
            graph.append(
                f"[{inputs}:v]setpts=PTS-STARTPTS,"
                f"scale={CELL_W}:{CELL_H}:force_original_aspect_ratio=decrease,"
                f"pad={CELL_W}:{CELL_H}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={FPS},"
                f"setpts=PTS+{offset:.3f}/TB[v{k}]"
            )
            graph.append(f"[{last}][v{k}]overlay=x={x}:y={y}:eof_action=pass[o{k}]")
            last = f"o{k}"
            inputs += 1
            k += 1
        if label_dir is not None and FONT.exists():
            # The label text goes through a file: no escaping of names in the filter graph.
            text_file = label_dir / f"label{idx}.txt"
            text_file.write_text(cell.label, encoding="utf-8")
            graph.append(
                f"[{last}]drawtext=fontfile={FONT}:textfile={text_file}:x={x + 6}:y={y + 6}:"
                f"fontsize=16:fontcolor=white:box=1:boxcolor=black@0.5[t{idx}]"
            )
            last = f"t{idx}"
    graph.append(f"[{last}]format=yuv420p[vout]")
    mixed: list[str] = []
    for j, seg in enumerate(plan.audio):
        args += ["-i", str(seg.path)]
        delay = max(0, round((seg.start - plan.origin) * 1000))
        graph.append(
            f"[{inputs}:a]asetpts=PTS-STARTPTS,aresample=48000:async=1,"
            f"aformat=sample_rates=48000:channel_layouts=stereo,adelay={delay}:all=1[a{j}]"
        )
        mixed.append(f"[a{j}]")
        inputs += 1
    if not mixed:
        graph.append(f"anullsrc=r=48000:cl=stereo,atrim=0:{dur}[aout]")
    elif len(mixed) == 1:
        graph.append(f"{mixed[0]}apad=whole_dur={dur}[aout]")
    else:
        graph.append(
            f"{''.join(mixed)}amix=inputs={len(mixed)}:duration=longest:dropout_transition=0:"
            f"normalize=0,apad=whole_dur={dur}[aout]"
        )
    args += [
        "-filter_complex", ";".join(graph),
        "-map", "[vout]", "-map", "[aout]", "-t", dur,
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-threads", "2",
        "-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-ac", "2",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ]
    return args


ProgressFn = Callable[[float], Awaitable[None]]


async def render(plan: Plan, output: Path, on_progress: ProgressFn) -> None:
    """Run ffmpeg; ``output`` appears (atomically renamed) only when it succeeded."""
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise CompositeError("未安装 ffmpeg / ffmpeg is not installed (apt-get install ffmpeg)")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    with tempfile.TemporaryDirectory(prefix="composite-") as labels:
        args = ffmpeg_args(plan, partial, Path(labels))
        proc = await asyncio.create_subprocess_exec(
            binary, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        err_task = asyncio.ensure_future(proc.stderr.read())
        try:
            while line := await proc.stdout.readline():
                key, _, value = line.decode("ascii", "replace").strip().partition("=")
                if key == "out_time_us" and value.lstrip("-").isdigit():
                    done = max(0, int(value)) / 1e6 / plan.duration
                    await on_progress(min(0.99, done))
            rc = await proc.wait()
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            partial.unlink(missing_ok=True)
            raise
        err = (await err_task).decode("utf-8", "replace").strip()
    if rc != 0:
        partial.unlink(missing_ok=True)
        raise CompositeError(f"ffmpeg exited {rc}: {err[-800:]}")
    os.replace(partial, output)
