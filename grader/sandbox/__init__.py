"""The sandbox: student code runs here, in a separate, limited process; only plain data comes back."""
