"""A run's outcome in sentences, composed from its figures and checks: the one-sentence verdict that heads the
Results page, and the notes that explain figures a newcomer would misread (a headline accuracy that drops
because a class is gone; a forgotten set the model still recognises because retraining would too)."""

from __future__ import annotations

from dataclasses import dataclass

from .data import class_noun
from .forget import plural
from .result import UnlearnResult
from .verdict import Check


@dataclass(frozen=True)
class Story:
    """The verdict sentence, its tone ("success": every check passed; "warning": one missed; "info":
    something open), and notes that explain figures."""

    sentence: str
    tone: str
    notes: tuple[str, ...] = ()


def pct(x: float) -> str:
    """A fraction as a percentage for sentences: one decimal, none when it is whole."""
    v = round(100 * x, 1)
    return f"{v:.0f}%" if v == int(v) else f"{v:.1f}%"


def subject(result: UnlearnResult) -> str:
    """The forget set as the object of a sentence: "digit 0", "a random 10% of the training images (133)"."""
    spec, n = result.forget.spec, result.forget.forget_size
    if spec.kind == "classes":
        return spec.describe(result.classes, class_noun(result.dataset))
    if spec.kind == "random":
        amount = f"{spec.fraction:.0%}" if spec.fraction is not None else f"{n}"
        return f"a random {amount} of the training images ({n:,})"
    return f"the {n:,} chosen images"


def speed(result: UnlearnResult) -> str | None:
    """ "5× faster than retraining" (against the estimate made in the job, else gold's own training time)."""
    ratio = result.time_vs_retrain or result.time_vs_gold
    if not ratio:
        return None
    if ratio >= 1:
        return f"{ratio:.1f}× slower than retraining" if ratio >= 1.05 else "as slow as retraining"
    times = 1 / ratio
    return f"{times:.0f}× faster than retraining" if times >= 10 else f"{times:.1f}× faster than retraining"


def _check(checks: list[Check], name: str) -> Check | None:
    return next((c for c in checks if c.name == name), None)


def _kept_words(result: UnlearnResult, passed: bool | None) -> str:
    u, o = result.unlearned, result.original
    if result.forget.kind == "classes":
        where, now, before = f"the other {plural(class_noun(result.dataset))}", u.judged_test, o.judged_test
    else:
        where, now, before = "unseen images", u.acc_test, o.acc_test
    if passed is False:
        return f"but accuracy on {where} fell to {pct(now)} (before: {pct(before)})"
    return f"kept {pct(now)} accuracy on {where}"


def with_gold(result: UnlearnResult) -> Story:
    u, g, what = result.unlearned, result.gold, subject(result)
    checks = result.verdict
    forgotten, kept, private = (_check(checks, n) for n in ("forgotten", "kept", "private"))
    f = forgotten.passed if forgotten else None
    if f is True:
        first = (f"Forgot {what} as completely as retraining would" if result.forget.kind == "classes"
                 else f"Forgot {what} as retraining would")
    elif f is False:
        first = f"Did not forget {what} as retraining would: it still recognises {pct(u.acc_forget)} of them " \
                f"(a retrained model: {pct(g.acc_forget)})"
    else:
        first = f"Forgetting {what} is not settled by this data ({pct(u.acc_forget)} still recognised; a retrained " \
                f"model: {pct(g.acc_forget)})"
    parts = [first, _kept_words(result, kept.passed if kept else None)]
    fast = speed(result)
    sentence = ", ".join(parts) + (f", {fast}" if fast else "") + "."
    p = private.passed if private else None
    if p is True:
        sentence += f" Privacy: an attacker spots {pct(u.mia_forget)} of the forgotten images, as on a retrained " \
                    f"model ({pct(g.mia_forget)})."
    else:
        sentence += f" Privacy: an attacker {'still ' if u.mia_forget > g.mia_forget else ''}spots " \
                    f"{pct(u.mia_forget)} of the forgotten images (a retrained model: {pct(g.mia_forget)})" \
                    + ("; too few images to be sure." if p is None else ".")
    return Story(sentence, tone(checks), notes(result))


def without_gold(result: UnlearnResult) -> Story:
    u, what = result.unlearned, subject(result)
    audit = result.audit
    checks = audit.checks if audit else []
    fig = audit.figures if audit else {}
    forgotten, kept, private = (_check(checks, n) for n in ("forgotten", "kept", "private"))
    f = forgotten.passed if forgotten else None
    ref = fig.get("acc_reference")
    seen = f" ({pct(u.acc_forget)} recognised; unseen images of the same kind: {pct(ref.value)})" if ref else ""
    if f is True:
        first = f"Forgot {what}: it treats them like images it never saw{seen}"
    elif f is False:
        first = f"Did not forget {what}: it recognises them better than images it never saw{seen}"
    else:
        first = f"Whether {what} is forgotten is not settled by this data{seen}"
    parts = [first, _kept_words(result, kept.passed if kept else None)]
    fast = speed(result)
    sentence = ", ".join(parts) + (f", {fast}" if fast else "") + "."
    if "mia_forget" in fig and "mia_reference" in fig:
        mf, mr = fig["mia_forget"].value, fig["mia_reference"].value
        p = private.passed if private else None
        sentence += (f" Privacy: an attacker calls {pct(mf)} of the forgotten images members, and {pct(mr)} of images "
                     "the model never saw" + (", no more than chance would." if p is True else
                                              "; too few images to be sure." if p is None else "."))
    return Story(sentence + " (No retrained reference model: judged against unseen images.)", tone(checks),
                 notes(result))


def tone(checks: list[Check]) -> str:
    passed = [c.passed for c in checks]
    if any(p is False for p in passed):
        return "warning"
    return "success" if passed and all(p is True for p in passed) else "info"


def notes(result: UnlearnResult) -> tuple[str, ...]:
    """Figures a newcomer would misread, explained."""
    out = []
    u, g = result.unlearned, result.gold
    if result.forget.kind == "classes" and u.acc_test_retained_classes is not None:
        out.append(f"Overall test accuracy is {pct(u.acc_test)} because {subject(result)} is no longer recognised "
                   f"(as intended); on the other {plural(class_noun(result.dataset))} it is "
                   f"{pct(u.acc_test_retained_classes)}.")
    elif result.forget.kind != "classes" and g is not None and g.acc_forget >= 0.5:
        out.append(f"Recognising {pct(u.acc_forget)} of the forgotten images is expected: a model retrained without "
                   f"them recognises {pct(g.acc_forget)}, because they look like the images it kept. Forgetting "
                   "means behaving like that model, not failing on them.")
    elif result.forget.kind != "classes" and g is None and u.acc_forget >= 0.5:
        out.append(f"Recognising {pct(u.acc_forget)} of the forgotten images is expected: a model that never saw "
                   "them would recognise most of them too, because they look like the images it kept.")
    return tuple(out)


def story(result: UnlearnResult) -> Story:
    """The verdict of a run in words: against the retrained model when it has one, else the gold-free audit."""
    return with_gold(result) if result.gold is not None else without_gold(result)
