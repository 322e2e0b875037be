"""What lands on disk: files written safely, figures drawn to PNG, the sweep report."""
