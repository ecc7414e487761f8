"""Formatting shared by the benchmark's tables: times, ratios, plain or markdown tables."""


def format_time(seconds):
    """Seconds in a readable unit: us, ms or s."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def format_ratio(ratio):
    """"1.23x", or "-" for a missing ratio."""
    return "-" if ratio is None else f"{ratio:.2f}x"


def format_bytes(n):
    """Bytes in B, KiB or MiB."""
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024**2:.2f} MiB"


def ratio(numerator, denominator):
    """numerator / denominator, None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def format_table(headers, rows, markdown=False, left=1):
    """Lines of an aligned plain-text table, or of a GitHub markdown table.

    The first `left` columns are left-aligned (text), the others right-aligned (numbers).
    """
    rows = [tuple(cells) for cells in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" if i < left else "---:" for i in range(len(headers))) + "|"]
        return lines + ["| " + " | ".join(cells) + " |" for cells in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def title(text, markdown):
    """A section title line."""
    return ("### " if markdown else "== ") + text
