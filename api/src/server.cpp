// written by the API work
