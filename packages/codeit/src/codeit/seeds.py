"""Seed programs: hand-written solutions of ARC-AGI-1 training tasks in the DSL.

They prime CodeIt's replay buffer (the policy learns the language from them) and are the
starting points of mutation. Every program solves all train and test pairs of its task
(tests/codeit/test_codeit_seeds.py checks that).
"""

SEED_PROGRAMS: dict[str, str] = {
    "00d62c1b": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, BLACK)
x3 = rbind(bordering, I)
x4 = compose(flip, x3)
x5 = mfilter(x2, x4)
O = fill(I, YELLOW, x5)
""",
    "0520fde7": """\
x1 = lefthalf(I)
x2 = righthalf(I)
x3 = cellwise(x1, x2, BLACK)
O = replace(x3, BLUE, RED)
""",
    "05f2a901": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = colorfilter(x1, RED)
x3 = first(x2)
x4 = colorfilter(x1, AZURE)
x5 = first(x4)
x6 = gravitate(x3, x5)
O = move(I, x3, x6)
""",
    "08ed6ac7": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = order(x1, height)
x3 = first(x2)
x4 = fill(I, YELLOW, x3)
x5 = last(x2)
x6 = fill(x4, BLUE, x5)
x7 = remove(x3, x2)
x8 = remove(x5, x7)
x9 = first(x8)
x10 = fill(x6, GREEN, x9)
x11 = last(x8)
O = fill(x10, RED, x11)
""",
    "0b148d64": """\
x1 = leastcolor(I)
x2 = ofcolor(I, x1)
O = subgrid(x2, I)
""",
    "0ca9ddb6": """\
x1 = ofcolor(I, RED)
x2 = mapply(ineighbors, x1)
x3 = underfill(I, YELLOW, x2)
x4 = ofcolor(I, BLUE)
x5 = mapply(dneighbors, x4)
O = underfill(x3, ORANGE, x5)
""",
    "0d3d703e": """\
x1 = switch(I, 3, 4)
x2 = switch(x1, 8, 9)
x3 = switch(x2, 2, 6)
O = switch(x3, 1, 5)
""",
    "178fcbfb": """\
x1 = ofcolor(I, RED)
x2 = mapply(vfrontier, x1)
x3 = fill(I, RED, x2)
x4 = ofcolor(I, BLUE)
x5 = mapply(hfrontier, x4)
x6 = fill(x3, BLUE, x5)
x7 = ofcolor(I, GREEN)
x8 = mapply(hfrontier, x7)
O = fill(x6, GREEN, x8)
""",
    "1b2d62fb": """\
x1 = lefthalf(I)
x2 = righthalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(BLACK, x6)
O = fill(x7, AZURE, x5)
""",
    "1cf80156": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = first(x1)
O = subgrid(x2, I)
""",
    "1f85a75f": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = argmax(x1, size)
O = subgrid(x2, I)
""",
    "1fad071e": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = colorfilter(x1, BLUE)
x3 = sizefilter(x2, 4)
x4 = size(x3)
x5 = astuple(1, x4)
x6 = canvas(BLUE, x5)
x7 = subtract(5, x4)
x8 = astuple(1, x7)
x9 = canvas(BLACK, x8)
O = hconcat(x6, x9)
""",
    "2013d3e2": """\
x1 = objects(I, FALSE, TRUE, TRUE)
x2 = first(x1)
x3 = ulcorner(x2)
O = crop(I, x3, THREE_BY_THREE)
""",
    "2281f1f4": """\
x1 = ofcolor(I, GRAY)
x2 = mapply(vfrontier, x1)
x3 = mapply(hfrontier, x1)
x4 = intersection(x2, x3)
x5 = hfrontier(ORIGIN)
x6 = difference(x4, x5)
O = underfill(I, RED, x6)
""",
    "22eb0ac0": """\
x1 = fgpartition(I)
x2 = fork(recolor, color, backdrop)
x3 = apply(x2, x1)
x4 = mfilter(x3, hline)
O = paint(I, x4)
""",
    "23b5c85d": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = argmin(x1, size)
O = subgrid(x2, I)
""",
    "253bf280": """\
x1 = ofcolor(I, AZURE)
x2 = lbind(lbind, connect)
x3 = rbind(apply, x1)
x4 = compose(x3, x2)
x5 = mapply(x4, x1)
x6 = fork(either, vline, hline)
x7 = mfilter(x5, x6)
O = underfill(I, GREEN, x7)
""",
    "25d8a9c8": """\
x1 = shape(I)
x2 = canvas(BLACK, x1)
x3 = frontiers(I)
x4 = sfilter(x3, hline)
x5 = merge(x4)
O = fill(x2, GRAY, x5)
""",
    "25ff71a9": """\
x1 = fgpartition(I)
x2 = merge(x1)
O = move(I, x2, DOWN)
""",
    "28bf18c6": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = first(x1)
x3 = subgrid(x2, I)
O = hconcat(x3, x3)
""",
    "2dc579da": """\
x1 = vsplit(I, 2)
x2 = rbind(hsplit, 2)
x3 = apply(x2, x1)
x4 = merge(x3)
O = argmax(x4, numcolors)
""",
    "2dee498d": """\
x1 = hsplit(I, 3)
O = first(x1)
""",
    "3428a4f5": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = difference(x3, x4)
x6 = difference(x4, x3)
x7 = combine(x5, x6)
x8 = shape(x1)
x9 = canvas(BLACK, x8)
O = fill(x9, GREEN, x7)
""",
    "39a8645d": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = totuple(x1)
x3 = apply(normalize, x2)
x4 = mostcommon(x3)
x5 = shape(x4)
x6 = canvas(BLACK, x5)
O = paint(x6, x4)
""",
    "3aa6fb7a": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = mapply(delta, x1)
O = fill(I, BLUE, x2)
""",
    "3af2c5a8": """\
x1 = vmirror(I)
x2 = hconcat(I, x1)
x3 = hmirror(x2)
O = vconcat(x2, x3)
""",
    "3bd67248": """\
x1 = width(I)
x2 = decrement(x1)
x3 = tojvec(x2)
x4 = shoot(x3, DOWN_LEFT)
x5 = underfill(I, RED, x4)
x6 = height(I)
x7 = decrement(x6)
x8 = toivec(x7)
x9 = hfrontier(x8)
O = underfill(x5, YELLOW, x9)
""",
    "3c9b0459": """\
O = rot180(I)
""",
    "3de23699": """\
x1 = fgpartition(I)
x2 = sizefilter(x1, 4)
x3 = first(x2)
x4 = difference(x1, x2)
x5 = merge(x4)
x6 = color(x3)
x7 = color(x5)
x8 = subgrid(x3, I)
x9 = trim(x8)
O = replace(x9, x7, x6)
""",
    "40853293": """\
x1 = fgpartition(I)
x2 = fork(recolor, color, backdrop)
x3 = apply(x2, x1)
x4 = mfilter(x3, hline)
x5 = mfilter(x3, vline)
x6 = paint(I, x4)
O = paint(x6, x5)
""",
    "4258a5f9": """\
x1 = ofcolor(I, GRAY)
x2 = mapply(neighbors, x1)
O = underfill(I, BLUE, x2)
""",
    "42a50994": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = sizefilter(x1, 1)
x3 = merge(x2)
O = cover(I, x3)
""",
    "4347f46a": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = fork(difference, toindices, box)
x3 = mapply(x2, x1)
O = fill(I, BLACK, x3)
""",
    "445eab21": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = compose(size, backdrop)
x3 = argmax(x1, x2)
x4 = color(x3)
O = canvas(x4, TWO_BY_TWO)
""",
    "44f52bb0": """\
x1 = vmirror(I)
x2 = equality(x1, I)
x3 = branch(x2, BLUE, ORANGE)
O = canvas(x3, UNITY)
""",
    "46442a0e": """\
x1 = rot90(I)
x2 = hconcat(I, x1)
x3 = rot270(I)
x4 = rot180(I)
x5 = hconcat(x3, x4)
O = vconcat(x2, x5)
""",
    "496994bd": """\
x1 = tophalf(I)
x2 = hmirror(x1)
O = vconcat(x1, x2)
""",
    "4c4377d9": """\
x1 = hmirror(I)
O = vconcat(x1, I)
""",
    "50cb2852": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = fork(difference, toindices, box)
x3 = mapply(x2, x1)
O = fill(I, AZURE, x3)
""",
    "54d82841": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = rbind(shoot, DOWN)
x3 = compose(x2, center)
x4 = mapply(x3, x1)
x5 = height(I)
x6 = decrement(x5)
x7 = toivec(x6)
x8 = hfrontier(x7)
x9 = intersection(x4, x8)
O = fill(I, YELLOW, x9)
""",
    "5521c0d9": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = merge(x1)
x3 = cover(I, x2)
x4 = compose(negate, height)
x5 = compose(toivec, x4)
x6 = fork(shift, identity, x5)
x7 = mapply(x6, x1)
O = paint(x3, x7)
""",
    "5582e5ca": """\
x1 = mostcolor(I)
x2 = shape(I)
O = canvas(x1, x2)
""",
    "5614dbcf": """\
x1 = replace(I, GRAY, BLACK)
O = downscale(x1, 3)
""",
    "56ff96f3": """\
x1 = fgpartition(I)
x2 = fork(recolor, color, backdrop)
x3 = mapply(x2, x1)
O = paint(I, x3)
""",
    "5bd6f4ac": """\
x1 = tojvec(6)
O = crop(I, x1, THREE_BY_THREE)
""",
    "5c0a986e": """\
x1 = ofcolor(I, BLUE)
x2 = ulcorner(x1)
x3 = shoot(x2, NEG_UNITY)
x4 = fill(I, BLUE, x3)
x5 = ofcolor(I, RED)
x6 = lrcorner(x5)
x7 = shoot(x6, UNITY)
O = fill(x4, RED, x7)
""",
    "60b61512": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = mapply(delta, x1)
O = fill(I, ORANGE, x2)
""",
    "6150a2bd": """\
O = rot180(I)
""",
    "62c24649": """\
x1 = vmirror(I)
x2 = hconcat(I, x1)
x3 = hmirror(x2)
O = vconcat(x2, x3)
""",
    "6430c8c4": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(BLACK, x6)
O = fill(x7, GREEN, x5)
""",
    "6455b5f5": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, BLACK)
x3 = argmax(x2, size)
x4 = valmin(x2, size)
x5 = sizefilter(x2, x4)
x6 = fill(I, BLUE, x3)
x7 = merge(x5)
O = fill(x6, AZURE, x7)
""",
    "662c240a": """\
x1 = vsplit(I, 3)
x2 = fork(equality, identity, dmirror)
x3 = compose(flip, x2)
O = extract(x1, x3)
""",
    "67385a82": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, GREEN)
x3 = sizefilter(x2, 1)
x4 = difference(x2, x3)
x5 = merge(x4)
O = fill(I, AZURE, x5)
""",
    "67a3c6ac": """\
O = vmirror(I)
""",
    "67e8384a": """\
x1 = vmirror(I)
x2 = hconcat(I, x1)
x3 = hmirror(x2)
O = vconcat(x2, x3)
""",
    "68b16354": """\
O = hmirror(I)
""",
    "6d0aefbc": """\
x1 = vmirror(I)
O = hconcat(I, x1)
""",
    "6d75e8bb": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = first(x1)
x3 = delta(x2)
O = fill(I, RED, x3)
""",
    "6e82a1ae": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = sizefilter(x1, 4)
x3 = merge(x2)
x4 = fill(I, BLUE, x3)
x5 = sizefilter(x1, 3)
x6 = merge(x5)
x7 = fill(x4, RED, x6)
x8 = sizefilter(x1, 2)
x9 = merge(x8)
O = fill(x7, GREEN, x9)
""",
    "6f8cd79b": """\
x1 = asindices(I)
x2 = box(x1)
O = fill(I, AZURE, x2)
""",
    "6fa7a44f": """\
x1 = hmirror(I)
O = vconcat(I, x1)
""",
    "7468f01a": """\
x1 = objects(I, FALSE, TRUE, TRUE)
x2 = first(x1)
x3 = subgrid(x2, I)
O = vmirror(x3)
""",
    "74dd1130": """\
O = dmirror(I)
""",
    "7b6016b9": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, BLACK)
x3 = rbind(bordering, I)
x4 = compose(flip, x3)
x5 = mfilter(x2, x4)
x6 = fill(I, RED, x5)
O = replace(x6, BLACK, GREEN)
""",
    "7b7f7511": """\
x1 = portrait(I)
x2 = tophalf(I)
x3 = lefthalf(I)
O = branch(x1, x2, x3)
""",
    "7fe24cdd": """\
x1 = rot90(I)
x2 = hconcat(I, x1)
x3 = rot270(I)
x4 = rot180(I)
x5 = hconcat(x3, x4)
O = vconcat(x2, x5)
""",
    "88a62173": """\
x1 = vsplit(I, 2)
x2 = rbind(hsplit, 2)
x3 = apply(x2, x1)
x4 = merge(x3)
O = leastcommon(x4)
""",
    "8be77c9e": """\
x1 = hmirror(I)
O = vconcat(I, x1)
""",
    "8efcae92": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, BLUE)
x3 = rbind(toobject, I)
x4 = compose(x3, backdrop)
x5 = rbind(colorcount, RED)
x6 = compose(x5, x4)
x7 = argmax(x2, x6)
O = subgrid(x7, I)
""",
    "913fb3ed": """\
x1 = ofcolor(I, GREEN)
x2 = mapply(neighbors, x1)
x3 = fill(I, MAGENTA, x2)
x4 = ofcolor(I, AZURE)
x5 = mapply(neighbors, x4)
x6 = fill(x3, YELLOW, x5)
x7 = ofcolor(I, RED)
x8 = mapply(neighbors, x7)
O = fill(x6, BLUE, x8)
""",
    "9172f3a0": """\
O = upscale(I, 3)
""",
    "94f9d214": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(BLACK, x6)
O = fill(x7, RED, x5)
""",
    "9565186b": """\
x1 = mostcolor(I)
x2 = shape(I)
x3 = canvas(GRAY, x2)
x4 = ofcolor(I, x1)
O = fill(x3, x1, x4)
""",
    "95990924": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = apply(ulcorner, x1)
x3 = shift(x2, NEG_UNITY)
x4 = fill(I, BLUE, x3)
x5 = apply(urcorner, x1)
x6 = shift(x5, UP_RIGHT)
x7 = fill(x4, RED, x6)
x8 = apply(llcorner, x1)
x9 = shift(x8, DOWN_LEFT)
x10 = fill(x7, GREEN, x9)
x11 = apply(lrcorner, x1)
x12 = shift(x11, UNITY)
O = fill(x10, YELLOW, x12)
""",
    "99b1bc43": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = difference(x3, x4)
x6 = difference(x4, x3)
x7 = combine(x5, x6)
x8 = shape(x1)
x9 = canvas(BLACK, x8)
O = fill(x9, GREEN, x7)
""",
    "9dfd6313": """\
O = dmirror(I)
""",
    "9ecd008a": """\
x1 = vmirror(I)
x2 = ofcolor(I, BLACK)
O = subgrid(x2, x1)
""",
    "a416b8f3": """\
O = hconcat(I, I)
""",
    "a5313dff": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, BLACK)
x3 = rbind(bordering, I)
x4 = compose(flip, x3)
x5 = mfilter(x2, x4)
O = fill(I, BLUE, x5)
""",
    "a61f2674": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = argmax(x1, size)
x3 = argmin(x1, size)
x4 = shape(I)
x5 = canvas(BLACK, x4)
x6 = fill(x5, BLUE, x2)
O = fill(x6, RED, x3)
""",
    "a699fb00": """\
x1 = ofcolor(I, BLUE)
x2 = shift(x1, RIGHT)
x3 = shift(x1, LEFT)
x4 = intersection(x2, x3)
O = underfill(I, RED, x4)
""",
    "a740d043": """\
x1 = objects(I, FALSE, TRUE, TRUE)
x2 = merge(x1)
x3 = subgrid(x2, I)
O = replace(x3, BLUE, BLACK)
""",
    "a79310a0": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = first(x1)
x3 = move(I, x2, DOWN)
O = replace(x3, AZURE, RED)
""",
    "a85d4709": """\
x1 = ofcolor(I, GRAY)
x2 = matcher(colof, 0)
x3 = sfilter(x1, x2)
x4 = mapply(hfrontier, x3)
x5 = fill(I, RED, x4)
x6 = matcher(colof, 1)
x7 = sfilter(x1, x6)
x8 = mapply(hfrontier, x7)
x9 = fill(x5, YELLOW, x8)
x10 = matcher(colof, 2)
x11 = sfilter(x1, x10)
x12 = mapply(hfrontier, x11)
O = fill(x9, GREEN, x12)
""",
    "a9f96cdd": """\
x1 = ofcolor(I, RED)
x2 = fill(I, BLACK, x1)
x3 = shift(x1, NEG_UNITY)
x4 = fill(x2, GREEN, x3)
x5 = shift(x1, UP_RIGHT)
x6 = fill(x4, MAGENTA, x5)
x7 = shift(x1, DOWN_LEFT)
x8 = fill(x6, AZURE, x7)
x9 = shift(x1, UNITY)
O = fill(x8, ORANGE, x9)
""",
    "ac0a08a4": """\
x1 = numcolors(I)
x2 = decrement(x1)
O = upscale(I, x2)
""",
    "aedd82e4": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, RED)
x3 = sizefilter(x2, 1)
x4 = merge(x3)
O = fill(I, BLUE, x4)
""",
    "b1948b0a": """\
O = replace(I, MAGENTA, RED)
""",
    "b230c067": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = totuple(x1)
x3 = apply(normalize, x2)
x4 = leastcommon(x3)
x5 = matcher(normalize, x4)
x6 = extract(x1, x5)
x7 = replace(I, AZURE, BLUE)
O = fill(x7, RED, x6)
""",
    "b27ca6d3": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = sizefilter(x1, 2)
x3 = mapply(outbox, x2)
O = fill(I, GREEN, x3)
""",
    "b2862040": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, MAROON)
x3 = rbind(bordering, I)
x4 = compose(flip, x3)
x5 = mfilter(x2, x4)
x6 = objects(I, TRUE, FALSE, TRUE)
x7 = lbind(adjacent, x5)
x8 = mfilter(x6, x7)
O = fill(I, AZURE, x8)
""",
    "b6afb2da": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, GRAY)
x3 = replace(I, GRAY, RED)
x4 = mapply(box, x2)
x5 = fill(x3, YELLOW, x4)
x6 = mapply(corners, x2)
O = fill(x5, BLUE, x6)
""",
    "b91ae062": """\
x1 = numcolors(I)
x2 = decrement(x1)
O = upscale(I, x2)
""",
    "b94a9452": """\
x1 = objects(I, FALSE, FALSE, TRUE)
x2 = first(x1)
x3 = subgrid(x2, I)
x4 = leastcolor(x3)
x5 = mostcolor(x3)
O = switch(x3, x4, x5)
""",
    "b9b7f026": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = compose(size, delta)
x3 = argmax(x1, x2)
x4 = color(x3)
O = canvas(x4, UNITY)
""",
    "ba26e723": """\
x1 = ofcolor(I, YELLOW)
x2 = rbind(mod, 3)
x3 = compose(x2, colof)
x4 = matcher(x3, 0)
x5 = sfilter(x1, x4)
O = fill(I, MAGENTA, x5)
""",
    "bb43febb": """\
x1 = objects(I, TRUE, FALSE, FALSE)
x2 = colorfilter(x1, GRAY)
x3 = compose(backdrop, inbox)
x4 = mapply(x3, x2)
O = fill(I, RED, x4)
""",
    "bdad9b1f": """\
x1 = ofcolor(I, AZURE)
x2 = mapply(vfrontier, x1)
x3 = ofcolor(I, RED)
x4 = mapply(hfrontier, x3)
x5 = fill(I, AZURE, x2)
x6 = fill(x5, RED, x4)
x7 = intersection(x2, x4)
O = fill(x6, YELLOW, x7)
""",
    "be94b721": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = argmax(x1, size)
O = subgrid(x2, I)
""",
    "c0f76784": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = apply(delta, x1)
x3 = sizefilter(x2, 1)
x4 = merge(x3)
x5 = fill(I, MAGENTA, x4)
x6 = sizefilter(x2, 4)
x7 = merge(x6)
x8 = fill(x5, ORANGE, x7)
x9 = sizefilter(x2, 9)
x10 = merge(x9)
O = fill(x8, AZURE, x10)
""",
    "c1d99e64": """\
x1 = frontiers(I)
x2 = colorfilter(x1, BLACK)
x3 = merge(x2)
O = fill(I, RED, x3)
""",
    "c59eb873": """\
O = upscale(I, 2)
""",
    "c8f0f002": """\
O = replace(I, ORANGE, GRAY)
""",
    "c909285e": """\
x1 = leastcolor(I)
x2 = ofcolor(I, x1)
O = subgrid(x2, I)
""",
    "c9e6f938": """\
x1 = vmirror(I)
O = hconcat(I, x1)
""",
    "c9f8e694": """\
x1 = ofcolor(I, GRAY)
x2 = lbind(index, I)
x3 = compose(toivec, rowof)
x4 = compose(x2, x3)
x5 = fork(recolor, x4, initset)
x6 = mapply(x5, x1)
O = paint(I, x6)
""",
    "ce22a75a": """\
x1 = ofcolor(I, GRAY)
x2 = mapply(neighbors, x1)
x3 = combine(x1, x2)
O = fill(I, BLUE, x3)
""",
    "ce4f8723": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(GREEN, x6)
O = fill(x7, BLACK, x5)
""",
    "d037b0a7": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = rbind(shoot, DOWN)
x3 = compose(x2, center)
x4 = fork(recolor, color, x3)
x5 = mapply(x4, x1)
O = underpaint(I, x5)
""",
    "d0f5fe59": """\
x1 = objects(I, TRUE, TRUE, TRUE)
x2 = size(x1)
x3 = astuple(x2, x2)
x4 = canvas(BLACK, x3)
x5 = shoot(ORIGIN, UNITY)
O = fill(x4, AZURE, x5)
""",
    "d10ecb37": """\
O = crop(I, ORIGIN, TWO_BY_TWO)
""",
    "d13f3404": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = rbind(shoot, UNITY)
x3 = compose(x2, center)
x4 = fork(recolor, color, x3)
x5 = mapply(x4, x1)
x6 = astuple(6, 6)
x7 = canvas(BLACK, x6)
O = paint(x7, x5)
""",
    "d23f8c26": """\
x1 = width(I)
x2 = halve(x1)
x3 = tojvec(x2)
x4 = vfrontier(x3)
x5 = asindices(I)
x6 = difference(x5, x4)
O = fill(I, BLACK, x6)
""",
    "d2abd087": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = sizefilter(x1, 6)
x3 = merge(x2)
x4 = difference(x1, x2)
x5 = merge(x4)
x6 = fill(I, RED, x3)
O = fill(x6, BLUE, x5)
""",
    "d364b489": """\
x1 = ofcolor(I, BLUE)
x2 = shift(x1, UP)
x3 = fill(I, RED, x2)
x4 = shift(x1, LEFT)
x5 = fill(x3, ORANGE, x4)
x6 = shift(x1, RIGHT)
x7 = fill(x5, MAGENTA, x6)
x8 = shift(x1, DOWN)
O = fill(x7, AZURE, x8)
""",
    "d511f180": """\
O = switch(I, GRAY, AZURE)
""",
    "d5d6de2d": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = mapply(delta, x1)
x3 = replace(I, RED, BLACK)
O = fill(x3, GREEN, x2)
""",
    "d631b094": """\
x1 = palette(I)
x2 = other(x1, BLACK)
x3 = colorcount(I, x2)
x4 = astuple(1, x3)
O = canvas(x2, x4)
""",
    "dae9d2b5": """\
x1 = lefthalf(I)
x2 = righthalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(MAGENTA, x6)
O = fill(x7, BLACK, x5)
""",
    "dbc1a6ce": """\
x1 = ofcolor(I, BLUE)
x2 = lbind(lbind, connect)
x3 = rbind(apply, x1)
x4 = compose(x3, x2)
x5 = mapply(x4, x1)
x6 = fork(either, vline, hline)
x7 = mfilter(x5, x6)
O = underfill(I, AZURE, x7)
""",
    "dc1df850": """\
x1 = ofcolor(I, RED)
x2 = mapply(neighbors, x1)
O = underfill(I, BLUE, x2)
""",
    "ded97339": """\
x1 = ofcolor(I, AZURE)
x2 = lbind(lbind, connect)
x3 = rbind(apply, x1)
x4 = compose(x3, x2)
x5 = mapply(x4, x1)
x6 = fork(either, vline, hline)
x7 = mfilter(x5, x6)
O = underfill(I, AZURE, x7)
""",
    "e50d258f": """\
x1 = asobject(I)
x2 = ofcolor(I, BLACK)
x3 = toobject(x2, I)
x4 = difference(x1, x3)
x5 = components(x4, FALSE)
x6 = rbind(colorcount, RED)
x7 = argmax(x5, x6)
O = subgrid(x7, I)
""",
    "e8593010": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = sizefilter(x1, 1)
x3 = merge(x2)
x4 = fill(I, GREEN, x3)
x5 = sizefilter(x1, 2)
x6 = merge(x5)
x7 = fill(x4, RED, x6)
x8 = sizefilter(x1, 3)
x9 = merge(x8)
O = fill(x7, BLUE, x9)
""",
    "e9614598": """\
x1 = ofcolor(I, BLUE)
x2 = center(x1)
x3 = dneighbors(x2)
x4 = insert(x2, x3)
O = fill(I, GREEN, x4)
""",
    "e98196ab": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = asobject(x2)
O = underpaint(x1, x3)
""",
    "ea32f347": """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = argmax(x1, size)
x3 = argmin(x1, size)
x4 = fill(I, BLUE, x2)
x5 = fill(x4, RED, x3)
x6 = remove(x2, x1)
x7 = remove(x3, x6)
x8 = merge(x7)
O = fill(x5, YELLOW, x8)
""",
    "ea786f4a": """\
x1 = shoot(ORIGIN, UNITY)
x2 = width(I)
x3 = decrement(x2)
x4 = tojvec(x3)
x5 = shoot(x4, DOWN_LEFT)
x6 = combine(x1, x5)
O = fill(I, BLACK, x6)
""",
    "ed36ccf7": """\
O = rot270(I)
""",
    "f25fbde4": """\
x1 = objects(I, FALSE, TRUE, TRUE)
x2 = first(x1)
x3 = subgrid(x2, I)
O = upscale(x3, 2)
""",
    "f25ffba3": """\
x1 = bottomhalf(I)
x2 = hmirror(x1)
O = vconcat(x2, x1)
""",
    "f2829549": """\
x1 = lefthalf(I)
x2 = righthalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(BLACK, x6)
O = fill(x7, GREEN, x5)
""",
    "f76d97a5": """\
x1 = palette(I)
x2 = other(x1, GRAY)
x3 = replace(I, x2, BLACK)
O = replace(x3, GRAY, x2)
""",
    "fafffa47": """\
x1 = tophalf(I)
x2 = bottomhalf(I)
x3 = ofcolor(x1, BLACK)
x4 = ofcolor(x2, BLACK)
x5 = intersection(x3, x4)
x6 = shape(x1)
x7 = canvas(BLACK, x6)
O = fill(x7, RED, x5)
""",
}
