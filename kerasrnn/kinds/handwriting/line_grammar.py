"""The small English grammar that wrote `lines.txt`, the synthetic handwriting's text lines.

Sentences are drawn from a handful of templates (statements, questions, quotations, lists and
dates) over word lists written for this package, so the lines read as plain English, use upper
and lower case, digits and common punctuation, and are all different. `generate_lines()` with
its defaults gives exactly the shipped `lines.txt` (a test holds them equal).
"""

import numpy as np

NAMES = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack",
         "Kate", "Leo", "Maria", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tom",
         "Uma", "Victor", "Wendy", "Xavier", "Yusuf", "Zoe")
NOUNS = ("garden", "river", "letter", "window", "table", "village", "market", "bridge", "train",
         "kitchen", "forest", "doctor", "teacher", "painter", "farmer", "child", "horse", "dog",
         "cat", "bird", "boat", "house", "road", "hill", "lamp", "book", "song", "storm", "winter",
         "morning", "evening", "station", "school", "museum", "baker", "sailor", "island",
         "field", "clock", "coat", "chair", "door", "apple", "cup", "ship", "tower", "valley",
         "wall", "queen", "judge", "pilot", "story", "picture", "meeting", "journey", "orchard")
ADJECTIVES = ("old", "young", "quiet", "bright", "small", "large", "green", "cold", "warm",
              "happy", "tired", "famous", "empty", "busy", "narrow", "wide", "gentle", "strange",
              "heavy", "quick", "lazy", "brave", "silver", "golden", "dark", "sunny", "careful",
              "honest", "distant", "little", "wooden", "muddy", "proud", "calm", "noisy")
VERBS_PAST = ("found", "carried", "painted", "opened", "closed", "visited", "watched", "crossed",
              "followed", "cleaned", "fixed", "sold", "bought", "left", "remembered", "answered",
              "described", "passed", "built", "moved", "lifted", "counted", "wrote", "read",
              "heard", "saw", "kept", "forgot", "missed", "liked")
VERBS_BASE = ("find", "carry", "paint", "open", "close", "visit", "watch", "cross", "follow",
              "clean", "fix", "sell", "buy", "leave", "remember", "answer", "describe", "pass",
              "build", "move", "lift", "count", "write", "read", "hear", "see", "keep", "miss")
INTRANSITIVE = ("slept", "laughed", "waited", "smiled", "arrived", "sang", "walked", "rested",
                "worked", "danced", "listened", "shouted", "vanished", "returned", "stayed")
ADVERBS = ("slowly", "quickly", "quietly", "early", "late", "again", "twice", "carefully",
           "happily", "suddenly", "gladly", "badly", "well", "soon", "today", "yesterday")
PLACES = ("in the garden", "by the river", "at the market", "near the bridge", "on the hill",
          "at the station", "in the kitchen", "under the tree", "behind the wall", "at school",
          "in the village", "on the boat", "at home", "in the forest", "across the road",
          "by the window", "on the island", "in the valley", "at the museum", "near the tower")
TIMES = ("on Monday", "on Friday", "in May", "in June", "at noon", "at night", "last week",
         "this morning", "every evening", "in winter", "after lunch", "before dawn",
         "on Sunday", "in April", "at dusk", "next year")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
SAYING = ("said", "asked", "replied", "whispered", "called", "added", "wrote")
EXCLAIM = ("Come here", "Look at this", "Not today", "Wait for me", "Well done", "Good morning",
           "Stop it", "Thank you", "Try again", "Hurry up", "Be careful", "How lovely",
           "Let us go", "Listen", "Never mind", "Of course")
COUNTS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve",
          "many", "several", "a few", "some")


def _plural(noun):
    """`child` -> `children`, `box` -> `boxes`, `story` -> `stories`, else `s`."""
    irregular = {"child": "children"}
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _sentence(rng):
    """One sentence from a template chosen by `rng` (a `numpy.random.Generator`)."""
    def pick(words):
        return words[rng.integers(len(words))]

    def phrase():
        adjective, noun = pick(ADJECTIVES), pick(NOUNS)
        return pick((f"the {adjective} {noun}", f"{_article(adjective)} {adjective} {noun}",
                     f"the {noun}", f"{pick(NAMES)}'s {noun}"))

    template = rng.integers(12)
    if template == 0:
        return f"{phrase().capitalize()} {pick(VERBS_PAST)} {phrase()}."
    if template == 1:
        return f"{pick(NAMES)} {pick(VERBS_PAST)} {phrase()} {pick(PLACES)}."
    if template == 2:
        return f"{pick(NAMES)} {pick(INTRANSITIVE)} {pick(ADVERBS)} {pick(TIMES)}."
    if template == 3:
        return f"Did {pick(NAMES)} {pick(VERBS_BASE)} {phrase()}?"
    if template == 4:
        return f"Why did {phrase()} {pick(VERBS_BASE)} {phrase()}?"
    if template == 5:
        return f"\"{pick(EXCLAIM)}!\" {pick(SAYING)} {pick(NAMES)}."
    if template == 6:
        return f"\"{pick(EXCLAIM)},\" {pick(NAMES)} {pick(SAYING)} {pick(ADVERBS)}."
    if template == 7:
        return f"We saw {pick(COUNTS)} {_plural(pick(NOUNS))} {pick(PLACES)}."
    if template == 8:
        return (f"On {pick(MONTHS)} {rng.integers(1, 29)}, {pick(NAMES)} "
                f"{pick(INTRANSITIVE)} {pick(PLACES)}.")
    if template == 9:
        return (f"{pick(NAMES)} and {pick(NAMES)} {pick(VERBS_PAST)} {rng.integers(2, 100)} "
                f"{_plural(pick(NOUNS))}.")
    if template == 10:
        return (f"The {pick(NOUNS)}, the {pick(NOUNS)} and the {pick(NOUNS)} "
                f"{pick(INTRANSITIVE)}.")
    return f"{phrase().capitalize()} {pick(INTRANSITIVE)}; {pick(NAMES)} {pick(INTRANSITIVE)} too."


def generate_lines(count=4000, seed=2013, min_chars=20, max_chars=60):
    """Different sentences of `min_chars` to `max_chars` characters, in the order drawn.

    Args:
        count: How many lines.
        seed: The random generator's seed.
        min_chars, max_chars: The lines' length range, inclusive.

    Returns:
        A list of `count` distinct strings.
    """
    rng = np.random.default_rng(seed)
    lines, seen = [], set()
    while len(lines) < count:
        line = _sentence(rng)
        if min_chars <= len(line) <= max_chars and line not in seen:
            seen.add(line)
            lines.append(line)
    return lines
