"""Each chapter's recipe at each scale (smoke, medium, full), as data the notebook reads."""
