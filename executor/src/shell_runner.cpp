// placeholder: written by the executor work
