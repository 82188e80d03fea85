from krmfn.cli import console

console()
