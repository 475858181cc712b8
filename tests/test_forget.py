import numpy as np
import pytest

from core.forget import ForgetSpec, ForgetSpecError, read_indices_csv, resolve

Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 3])


def test_classes_resolve_to_every_sample_of_the_class():
    f, r = resolve(ForgetSpec.of_classes([0, 2]), Y)
    assert f.tolist() == [0, 2, 3, 5, 6, 8] and r.tolist() == [1, 4, 7, 9]


def test_random_fraction_is_seeded_and_disjoint():
    a = resolve(ForgetSpec.random(fraction=0.3, seed=1), Y)
    b = resolve(ForgetSpec.random(fraction=0.3, seed=1), Y)
    c = resolve(ForgetSpec.random(fraction=0.3, seed=2), Y)
    assert np.array_equal(a[0], b[0]) and len(a[0]) == 3 and not np.array_equal(a[0], c[0])
    assert sorted(a[0].tolist() + a[1].tolist()) == list(range(10))
    assert len(resolve(ForgetSpec.random(count=4), Y)[0]) == 4


def test_indices_resolve_and_round_trip():
    spec = ForgetSpec.of_indices([5, 1, 5])
    assert resolve(spec, Y)[0].tolist() == [1, 5]
    assert ForgetSpec.from_dict(spec.to_dict()) == spec and spec.key() == ForgetSpec.of_indices([1, 5]).key()


@pytest.mark.parametrize("spec,message", [
    (ForgetSpec.of_classes([]), "at least one class"),
    (ForgetSpec.of_classes([7]), "unknown class"),
    (ForgetSpec.of_classes([0, 1, 2, 3]), "every training sample"),
    (ForgetSpec.random(fraction=1.5), "out of range"),
    (ForgetSpec.random(fraction=0.01), "between 1 and"),
    (ForgetSpec.random(), "either a fraction"),
    (ForgetSpec.of_indices([]), "at least one index"),
    (ForgetSpec.of_indices([3, 10]), "out of range"),
])
def test_bad_specs_are_refused_with_a_message(spec, message):
    with pytest.raises(ForgetSpecError, match=message):
        resolve(spec, Y, num_classes=5 if spec.classes == (7,) else None)


def test_csv_of_indices():
    assert read_indices_csv("index\n3\n1\n2\n").indices == (1, 2, 3)
    assert read_indices_csv("4, 5;6").indices == (4, 5, 6)
    with pytest.raises(ForgetSpecError, match="'x1' is not a sample index"):
        read_indices_csv("1,x1")
