"""The views' common parts: keys and footer, help, palette, the thread-to-UI pump, worker failures,
storage notices, the model picker."""
