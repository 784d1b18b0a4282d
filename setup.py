"""The optional C record counter (src/policygen/scan/_native.c): built when a C compiler
is present; without it policygen runs its pure-Python scanner, with the same answers."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "policygen.scan._native",
            sources=[
                "src/policygen/scan/_native.c",
                "src/policygen/scan/_entries.c",
                "src/policygen/scan/_jsonscan.c",
            ],
            depends=["src/policygen/scan/_jsonscan.h", "src/policygen/scan/_native.h"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
