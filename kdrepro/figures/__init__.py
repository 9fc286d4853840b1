"""Figures the chapters share: learning curves, attention maps, activation boundaries, the
FitNets hint picture, the same-pairs benchmark, mutual learning,
CTKD's temperatures, TAKD's capacity gap and DINO's collapse curves and attention maps, and TinyViT's top-K ablation. Each function draws on a Matplotlib axis
(or makes its own figure) and returns the figure; chapters only call them."""

from .attention import plot_attention_maps
from .benchmark import plot_benchmark
from .boundaries import plot_boundary_agreement
from .curves import plot_test_accuracy
from .gap import plot_assistant_size, plot_gap_curve
from .hints import plot_hint_diagram
from .mutual import plot_cohort_size, plot_peers_vs_alone
from .selfdistill import plot_class_attention, plot_collapse_curves
from .store import plot_k_ablation
from .temperature import plot_temperature_curves, plot_temperature_histogram

__all__ = ["plot_attention_maps", "plot_benchmark", "plot_boundary_agreement", "plot_test_accuracy",
           "plot_hint_diagram", "plot_peers_vs_alone", "plot_cohort_size",
           "plot_temperature_curves", "plot_temperature_histogram", "plot_gap_curve", "plot_assistant_size",
           "plot_collapse_curves", "plot_class_attention", "plot_k_ablation"]
