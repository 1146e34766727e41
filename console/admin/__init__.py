"""Every admin page of the product, one module per screen; importing this package registers them."""
