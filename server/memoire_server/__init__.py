"""The gRPC adapter: authentication, validation, error mapping and the servicers."""
