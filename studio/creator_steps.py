"""Where a creator stands on the way from a song to approved references: Characters, Plan, Generate,
Review, each with its state in a line ("song midnight-drive: character set, consistent image ready",
"job running 12/62", "4 of 6 approved") and the page that moves it on. Home shows them.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel

from studio.characters.overview import SongSummary, recent_songs
from studio.plans.catalog import counted, list_plans, plan_title
from studio.prompts.edits import get_plan, prompt_rows
from studio.records.jobs import JobStatus
from studio.records.reviews import ReviewStatus
from studio.records.songs import OPEN_STATUSES, ConsistencyStatus
from studio.references.gallery import job_progress
from studio.review.gate import review_board
from studio.services import Services

StepState = Literal["to do", "in progress", "done", "attention"]


class Step(BaseModel):
    name: str
    state: StepState
    summary: str
    page: str
    """The page (`pages/<name>.py`) that moves this step on."""


def _song(song: SongSummary | None, song_id: str | None) -> Step:
    page = "pages/characters.py"
    if song is None and song_id:
        summary = f"song {song_id}: no character yet."
        return Step(name="Characters", state="to do", summary=summary, page=page)
    if song is None:
        return Step(
            name="Characters",
            state="to do",
            summary="No song yet: create one, then pick a template or upload its character.",
            page=page,
        )
    name = f"song {song.song_id}"
    if song.character == "none":
        return Step(name="Characters", state="to do", summary=f"{name}: no character yet.", page=page)
    if not song.consistency_enabled:
        summary = f"{name}: character consistency is off; clips get no character image."
        return Step(name="Characters", state="done", summary=summary, page=page)
    if song.has_generated:
        summary = f"{name}: character set, consistent image ready."
        return Step(name="Characters", state="done", summary=summary, page=page)
    if song.job_status in OPEN_STATUSES:
        summary = f"{name}: character uploaded, the consistent image is being generated."
        return Step(name="Characters", state="in progress", summary=summary, page=page)
    if song.job_status == ConsistencyStatus.FAILED:
        summary = f"{name}: the consistency job failed; clips use the uploaded reference."
        return Step(name="Characters", state="attention", summary=summary, page=page)
    character = "uploaded character" if song.character == "upload" else song.character
    summary = f"{name}: {character} set."
    return Step(name="Characters", state="done", summary=summary, page=page)


def _plan(services: Services, job_id: str | None) -> tuple[Step, str | None]:
    page = "pages/plan.py"
    plan = get_plan(services, job_id) if job_id else None
    if plan is None:
        listed = list_plans(services, 1)
        plan = get_plan(services, listed[0].job_id) if listed else None
    if plan is None:
        summary = "No plan yet: load the sample plan or your own."
        return Step(name="Plan", state="to do", summary=summary, page=page), None
    title = plan_title(plan.video_summary, str(plan.job_id))
    cut = sum(row.truncated_by_clip for row in prompt_rows(services, plan))
    size = f"{counted(len(plan.scenes), 'scene')}, {counted(len(plan.characters), 'character')}"
    summary = f"plan “{title}” loaded: {size}"
    summary += f"; {counted(cut, 'prompt')} over 75 tokens (SDXL reads the first 75)." if cut else "."
    state: StepState = "attention" if cut else "done"
    return Step(name="Plan", state=state, summary=summary, page=page), str(plan.job_id)


def _generate(services: Services, job_id: str | None) -> Step:
    page = "pages/generate.py"
    progress = job_progress(services, job_id) if job_id else None
    if progress is None:
        return Step(name="Generate", state="to do", summary="Not started yet.", page=page)
    done = progress.stored + progress.failed
    if progress.active:
        summary = f"job {progress.status} {done}/{progress.total}."
        return Step(name="Generate", state="in progress", summary=summary, page=page)
    summary = f"job {progress.status}: {progress.stored} of {progress.total} stored"
    summary += f", {progress.failed} failed." if progress.failed else "."
    state: StepState = "done" if progress.status == JobStatus.SUCCESS else "attention"
    return Step(name="Generate", state=state, summary=summary, page=page)


def _review(services: Services, job_id: str | None) -> Step:
    page = "pages/review.py"
    if job_id is None or services.records.jobs.get(job_id) is None:
        return Step(name="Review", state="to do", summary="Nothing to review yet.", page=page)
    board = review_board(services, job_id)
    counts = Counter(r.status for r in board.references)
    total = len(board.references)
    if counts[ReviewStatus.APPROVED] == total:
        summary = f"{total} of {total} approved: ready to export for clip generation."
        return Step(name="Review", state="done", summary=summary, page=page)
    if counts[ReviewStatus.MISSING] == total:
        return Step(name="Review", state="to do", summary="No image stored yet to review.", page=page)
    unfinished = (ReviewStatus.PENDING, ReviewStatus.REJECTED, ReviewStatus.MISSING)
    others = ", ".join(f"{counts[s]} {s}" for s in unfinished if counts[s])
    summary = f"{counts[ReviewStatus.APPROVED]} of {total} approved ({others})."
    state: StepState = "attention" if counts[ReviewStatus.REJECTED] else "in progress"
    return Step(name="Review", state=state, summary=summary, page=page)


def creator_steps(services: Services, song_id: str | None, job_id: str | None) -> list[Step]:
    """The four steps for the current song and job; without them, the most recent ones."""
    songs = {song.song_id: song for song in recent_songs(services)}
    song = songs.get(song_id) if song_id else next(iter(songs.values()), None)
    plan_step, plan_job = _plan(services, job_id)
    generate_step = _generate(services, plan_job)
    if plan_step.state == "attention" and generate_step.state != "to do":
        plan_step = plan_step.model_copy(update={"state": "done"})  # generated: nothing left to do here
    return [_song(song, song_id), plan_step, generate_step, _review(services, plan_job)]
