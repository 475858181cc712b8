"""The verdict sentence and its notes, composed from a run's figures (hand-made results, no training)."""

from core.forget import ForgetSpec
from core.story import pct, story


def test_a_class_forgotten_as_retraining_would_is_said_in_one_sentence(make_result):
    r = make_result(acc_forget=0.0, acc_test=0.88, mia=0.06, seconds=0.2, gold=(0.0, 0.89, 0.04), gold_seconds=1.0)
    s = story(r)
    assert s.sentence.startswith("Forgot digit 0 as completely as retraining would, kept 88% accuracy on the other "
                                 "digits, 5.0× faster than retraining.")
    assert "Privacy: an attacker spots 6% of the forgotten images, as on a retrained model (4%)." in s.sentence
    assert s.tone == "success"
    # the headline accuracy is explained: it is over every class, the forgotten one included
    assert any(n.startswith("Overall test accuracy is 88%") for n in s.notes)


def test_a_miss_says_what_is_left_and_the_attackers_success(make_result):
    r = make_result(acc_forget=0.5, acc_test=0.88, mia=0.5, seconds=2.0, gold=(0.0, 0.89, 0.04), gold_seconds=1.0)
    s = story(r)
    assert s.sentence.startswith("Did not forget digit 0 as retraining would: it still recognises 50% of them "
                                 "(a retrained model: 0%)")
    assert "2.0× slower than retraining" in s.sentence
    assert "an attacker still spots 50% of the forgotten images (a retrained model: 4%)." in s.sentence
    assert s.tone == "warning"


def test_random_forgetting_explains_why_the_forgotten_images_are_still_recognised(make_result):
    r = make_result(spec=ForgetSpec.random(fraction=0.1, seed=0), acc_forget=0.98, acc_test=0.97, mia=0.9,
                    gold=(0.97, 0.97, 0.88))
    s = story(r)
    assert s.sentence.startswith("Forgot a random 10% of the training images (10) as retraining would, kept 97% "
                                 "accuracy on unseen images")
    assert s.notes and "a model retrained without them recognises 97%" in s.notes[0]


def test_percent_in_sentences():
    assert pct(0.5) == "50%" and pct(0.9851) == "98.5%" and pct(0.0) == "0%"


def test_forget_sets_in_words():
    assert ForgetSpec.of_classes([0]).describe(noun="digit") == "digit 0"
    assert ForgetSpec.of_classes([3, 5]).describe(["cat", "dog", "x", "bird", "y", "frog"]) == "classes bird and frog"
    assert ForgetSpec.of_classes([1, 2, 3]).describe() == "classes 1, 2 and 3"
