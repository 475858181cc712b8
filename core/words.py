"""Plain words for the product's terms: what a person who never heard of Fisher information reads, with the
expert's symbol and a one-line explanation for `help=` tooltips. Pages show `plain` by default and `expert`
behind the *Expert details* switch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One term: its plain name, the expert's symbol, and what it means in a sentence."""

    plain: str
    expert: str
    help: str

    def label(self, expert: bool) -> str:
        """The name to show: the symbol for experts, the plain name otherwise."""
        return self.expert if expert else self.plain

    def title(self, expert: bool) -> str:
        """`label` with a capital first letter, for headings and metric labels."""
        text = self.label(expert)
        return text[:1].upper() + text[1:]


TERMS: dict[str, Term] = {
    "forget": Term("data to forget", "Df", "The training images the model must forget, as if it had never seen "
                   "them."),
    "retain": Term("data to keep", "Dr", "The rest of the training images: the model must still know them."),
    "test": Term("unseen test data", "test", "Images the model never trained on; how well it works on new data."),
    "gold": Term("reference model: retrained without that data", "gold",
                 "A model trained from scratch without the data to forget: what perfect forgetting looks like. "
                 "Costly, so optional; without it the run is judged against unseen images of the same kind."),
    "mia": Term("attacker's success rate", "MIA", "The share of the forgotten images that a membership-inference "
                "attacker calls 'was in the training data'. After forgetting it should match the reference."),
    "gamma": Term("forgetting strength", "γ", "DeepClean resets the weights that matter more than γ times as much to "
                  "the data to forget as to the data to keep: lower γ resets more weights and forgets harder."),
    "auc": Term("attack's separability", "loss AUC", "How well the loss tells the forgotten images from unseen ones: "
                "0.5 means an attacker cannot tell them apart."),
    "js": Term("distance to the reference's predictions", "JS→gold",
               "Jensen–Shannon divergence between this model's and the reference model's predictions on the data "
               "to forget (0: identical)."),
    "acc_forget": Term("accuracy on the data to forget", "Acc(Df)", "The share of the forgotten images the model "
                       "still classifies correctly."),
    "acc_retain": Term("accuracy on the data to keep", "Acc(Dr)", "The share of the kept training images "
                       "classified correctly."),
    "acc_test": Term("accuracy on unseen data", "Acc(test)", "The share of the test images classified correctly."),
    "seconds": Term("time", "seconds", "How long the unlearning took, run alone (evaluation and retraining of the "
                    "reference model not counted)."),
}


def term(key: str) -> Term:
    """The term for a key of `TERMS`."""
    return TERMS[key]


# Table columns as the Results and Runs pages name them, for experts and in plain words.
COLUMN_TERMS = {"Acc(Dr)": "acc_retain", "Acc(Df)": "acc_forget", "Acc(test)": "acc_test", "MIA(Df)": "mia",
                "loss AUC": "auc", "JS→gold": "js", "seconds": "seconds"}
PLAIN_COLUMNS = {"Acc(Dr)": "accuracy (kept)", "Acc(Df)": "accuracy (forgotten)", "Acc(test)": "accuracy (unseen)",
                 "MIA(Df)": "attacker's success", "ΔAcc(Df)": "Δ forgotten (pts)", "ΔMIA": "Δ attacker (pts)",
                 "seconds": "time"}
EXPERT_ONLY_COLUMNS = ("loss AUC", "JS→gold")

# The verdict's checks in plain words.
CHECK_TERMS: dict[str, Term] = {
    "forgotten": Term("Forgotten", "forgotten", "The model treats the data to forget like a model that never saw "
                      "it would."),
    "kept": Term("Still accurate", "kept", "Accuracy on the data to keep and on unseen data stays where it was."),
    "private": Term("Private", "private", "An attacker cannot tell that the forgotten data was ever used for "
                    "training."),
    "fast": Term("Fast", "fast", "Much cheaper than retraining from scratch."),
}
