"""Side by side: a comparison of several models on one prompt, prompt sets, and their store."""
