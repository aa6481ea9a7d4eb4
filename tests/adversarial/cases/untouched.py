# Control: the release notebook as fetched (the solution cell still raises NotImplementedError).
# kind: transform
# expect: score == 0
# reason: NotImplementedError
def transform(folder, release):
    pass
