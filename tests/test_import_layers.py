"""The package's layers only point down.

Every module of ``mmsparseformer`` is parsed (not imported) and mapped to its
layer; the test fails on an import of a higher (or sibling) layer, on an
import cycle between modules, and on a function that imports a module of
the package (an import hidden in a function to dodge a cycle or a layer).
Imports of third-party packages are not checked: the optional ones (onnx,
onnxruntime, matplotlib, yaml...) are imported where they are used.

The tools in ``tools/`` are thin: each runs ``main`` of
``mmsparseformer.cli``; checked here as well.
"""
import ast
import os.path as osp
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = 'mmsparseformer'

#: Layer of each part of the package (the first name after the package);
#: a part may import its own modules and those of lower layers only.
LAYERS = {
    # low utilities, importable from anywhere
    'version': 0, 'compat': 0, 'checkpoint_io': 0, 'utils': 0,
    'ops': 1,
    'models': 2,
    'datasets': 3, 'deployment': 3,
    'apis': 4, 'zeroshot': 4,
    'analysis': 5, 'visualization': 5, 'engine': 5,
    '': 6,  # mmsparseformer/__init__.py: compat fixes, registers everything
    'cli': 7,  # the logic of tools/
    'testing': 8,  # test helpers: no module of the package imports them
}
#: The base layer is one part: its modules may import each other.
BASE = {name for name, rank in LAYERS.items() if rank == 0}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def discover() -> Dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {
        module_name(path): path
        for path in sorted((ROOT / PACKAGE).rglob('*.py'))
    }


MODULES = discover()


def part(module: str) -> str:
    """The part of the package a module belongs to ('' for the package)."""
    name = module.split('.')[1] if '.' in module else ''
    return 'base' if name in BASE else name


def rank(module: str) -> int:
    name = module.split('.')[1] if '.' in module else ''
    return LAYERS[name]


def resolve(module: str, is_package: bool, node: ast.AST) -> List[str]:
    """The package modules an import statement of ``module`` reads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base_parts = module.split('.')
    if node.level:
        keep = len(base_parts) - node.level + (1 if is_package else 0)
        base_parts = base_parts[:keep]
        base = '.'.join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ''
    targets = []
    for alias in node.names:
        candidate = f'{base}.{alias.name}'
        targets.append(candidate if candidate in MODULES else base)
    return targets


def enclosing_function(tree: ast.AST) -> Dict[ast.AST, Optional[str]]:
    """Each import node and the function it is in (None: module level)."""
    found = {}

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found[child] = function
            visit(child, inner)

    visit(tree, None)
    return found


def package_imports() -> List[Tuple[str, str, Optional[str], int]]:
    """``(importer, imported, function or None, line)`` of every import of
    a package module by a package module."""
    edges = set()
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == '__init__.py'
        for node, function in enclosing_function(tree).items():
            for target in resolve(module, is_package, node):
                if target == PACKAGE or target.startswith(PACKAGE + '.'):
                    while target not in MODULES:  # a name of a module
                        target = target.rsplit('.', 1)[0]
                    edges.add((module, target, function, node.lineno))
    return sorted(edges, key=lambda edge: (edge[0], edge[3], edge[1]))


EDGES = package_imports()


def test_every_module_has_a_layer():
    unknown = sorted({module for module in MODULES
                      if module.count('.') and
                      module.split('.')[1] not in LAYERS})
    assert not unknown, f'add these parts to LAYERS: {unknown}'
    assert len(EDGES) > 50  # the parser sees the imports


def test_imports_point_down():
    upward = [
        f'{importer} (line {line}) imports {imported}: layer '
        f'{rank(imported)} ({part(imported) or PACKAGE}) is not below '
        f'{rank(importer)} ({part(importer) or PACKAGE})'
        for importer, imported, _, line in EDGES
        if part(importer) != part(imported) and
        rank(imported) >= rank(importer)
    ]
    assert not upward, '\n'.join(upward)


def test_no_function_imports_a_package_module():
    hidden = [
        f'{importer}.{function} (line {line}) imports {imported}'
        for importer, imported, function, line in EDGES
        if function is not None
    ]
    assert not hidden, '\n'.join(hidden)


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of ``graph`` (a list of nodes, first = last), or None."""
    state: Dict[str, int] = {}  # 1: on the stack, 2: done
    stack: List[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    graph = defaultdict(set)
    for importer, imported, _, _ in EDGES:
        if importer != imported:
            graph[importer].add(imported)
        graph[imported]
    cycle = find_cycle(graph)
    assert cycle is None, ' -> '.join(cycle)


def test_cycle_finder_sees_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == \
        ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_production_code_never_imports_the_test_helpers():
    users = sorted({importer for importer, imported, _, _ in EDGES
                    if imported == f'{PACKAGE}.testing'})
    assert users == [], users


# ----------------------------------------------------------------- tools
TOOL_SCRIPTS = sorted((ROOT / 'tools').rglob('*.py'))


@pytest.mark.parametrize(
    'script', TOOL_SCRIPTS, ids=[osp.relpath(p, ROOT) for p in TOOL_SCRIPTS])
def test_tools_are_thin(script):
    """``tools/.../<name>.py`` imports ``main`` of
    ``mmsparseformer.cli.<name>`` (which must exist) and runs it as a
    script; nothing else."""
    tree = ast.parse(script.read_text())
    imports = [node for node in ast.walk(tree)
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    package_imports = [node for node in imports
                       if isinstance(node, ast.ImportFrom) and
                       (node.module or '').startswith(PACKAGE)]
    module = f'{PACKAGE}.cli.{script.stem}'
    assert [(node.module, [a.name for a in node.names])
            for node in package_imports] == [(module, ['main'])]
    assert module in MODULES
    main_guard = [node for node in tree.body if isinstance(node, ast.If)]
    assert len(main_guard) == 1 and 'main()' in ast.unparse(main_guard[0])
    functions = [node for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert not functions, 'the logic belongs in mmsparseformer/cli'
