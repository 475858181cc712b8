"""DeepClean Studio's engine: data, models, training, unlearning methods, metrics and the run store.

This package never imports streamlit; the dashboard and the CLI are thin layers over it.
"""

__version__ = "0.1.0"
