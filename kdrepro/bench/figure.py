"""The bench figure: images/s of every variant, one panel per teacher → student pair."""

from __future__ import annotations

from pathlib import Path

def colour(variant: str) -> str:
    """Grey for the reference, blue for kdrepro with a live teacher, purple shared, green stored."""
    for word, c in (("reference", "#6c757d"), ("stored", "#198754"), ("sharing", "#6610f2")):
        if word in variant:
            return c
    return "#0d6efd"


def plot_bench(results: dict, path: Path) -> Path:
    """Horizontal bars with their values; an SVG, byte-for-byte the same for the same results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = list(dict.fromkeys(r["pair"] for r in results["rows"]))
    with plt.rc_context({"svg.hashsalt": "kdrepro-bench", "svg.fonttype": "path", "font.size": 9}):
        fig, axes = plt.subplots(len(pairs), 1, figsize=(8.5, 0.8 + 2.2 * len(pairs)), squeeze=False)
        for ax, pair in zip(axes[:, 0], pairs):
            rows = [r for r in results["rows"] if r["pair"] == pair][::-1]
            values = [r["images_per_s"] for r in rows]
            ax.barh([r["variant"] for r in rows], values, color=[colour(r["variant"]) for r in rows])
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:.0f}", va="center", fontsize=8)
            ax.set_xlim(0, max(values) * 1.18)
            ax.set_title(pair, loc="left", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
        axes[-1, 0].set_xlabel("training images per second, per student (median of the repeats)")
        fig.suptitle(f"kdrepro bench ({results['size']}): {results['machine']['summary']}", fontsize=9)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    return path
