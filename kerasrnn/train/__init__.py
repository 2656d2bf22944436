"""Training loops (the logic behind the scripts in training/), so notebooks can call them."""
