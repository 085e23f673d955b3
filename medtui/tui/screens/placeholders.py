"""Placeholder screens for Environment, Models, Datasets, Runs, Chat and Export.

Each one says, in both languages, what the real screen will offer and what works meanwhile. They
show no data at all, so nothing on them can be mistaken for the workspace's real state.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Header, Static

from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.widgets.footer import MedtuiFooter

Bilingual = tuple[str, str]


class PlaceholderScreen(MedtuiScreen):
    OFFERS: tuple[Bilingual, ...] = ()
    MEANWHILE: tuple[Bilingual, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(classes="placeholder"):
            yield Static(id="placeholder-body")
        yield MedtuiFooter()

    def on_mount(self) -> None:
        self.relabel()

    def _pick(self, pair: Bilingual) -> str:
        return pair[1] if self.lang == "zh" else pair[0]

    def body(self) -> Content:
        lines = [Content.styled(self.t(f"title.{self.NAME}"), "bold"), Content(""),
                 Content(self.t("placeholder.later"))]
        lines += [Content(f"  • {self._pick(item)}") for item in self.OFFERS]
        if self.MEANWHILE:
            lines += [Content(""), Content(self.t("placeholder.meanwhile"))]
            lines += [Content(f"  • {self._pick(item)}") for item in self.MEANWHILE]
        return Content("\n").join(lines)

    def relabel(self) -> None:
        self.query_one("#placeholder-body", Static).update(self.body())


class EnvironmentPlaceholder(PlaceholderScreen):
    NAME = "environment"
    OFFERS = (
        ("GPUs from NVML: name, memory, compute capability, driver and CUDA versions",
         "NVML 检测到的 GPU:型号、显存、计算能力、驱动与 CUDA 版本"),
        ("versions of llamafactory, torch, transformers, trl and peft, checked against each other",
         "llamafactory、torch、transformers、trl、peft 的版本及其相互兼容性"),
        ("free disk space for saves/ and the model cache", "saves/ 与模型缓存所在磁盘的剩余空间"),
        ("which stages and precisions (bf16, fp16) this machine can run", "本机可运行的阶段与精度(bf16、fp16)"),
    )
    MEANWHILE = (("medtui --help lists the headless commands", "medtui --help 列出命令行用法"),)


class ModelsPlaceholder(PlaceholderScreen):
    NAME = "models"
    OFFERS = (
        ("the models in models/ and the trained outputs in saves/", "models/ 中的模型与 saves/ 中的训练产出"),
        ("downloads from ModelScope with progress and resume", "从 ModelScope 下载模型,显示进度并支持续传"),
        ("each model's size, architecture and chat template", "每个模型的大小、结构与对话模板"),
    )
    MEANWHILE = (("the Train form's model picker (ctrl+b on model_name_or_path) lists local models",
                  "训练表单的模型选择器(在 model_name_or_path 上按 ctrl+b)列出本地模型"),)


class DatasetsPlaceholder(PlaceholderScreen):
    NAME = "datasets"
    OFFERS = (
        ("the datasets registered in data/dataset_info.json", "data/dataset_info.json 中注册的数据集"),
        ("a preview of their records and a check of each stage's format", "数据预览,以及各阶段所需格式的检查"),
        ("registering a new file with its column mapping, written safely", "注册新数据文件并设置列映射,安全写入"),
    )
    MEANWHILE = (("the Train form's dataset picker offers the datasets that fit the stage",
                  "训练表单的数据集选择器只列出适用于该阶段的数据集"),)


class RunsPlaceholder(PlaceholderScreen):
    NAME = "runs"
    OFFERS = (
        ("every run of the workspace, also those started from the CLI", "工作区的全部运行,包括命令行启动的运行"),
        ("each run's monitor: loss and lr charts, progress, ETA, logs, GPU, CPU, RAM and disk gauges",
         "每个运行的监控:损失与学习率曲线、进度、剩余时间、日志、GPU/CPU/内存/磁盘"),
        ("stop and kill, and comparing the loss curves of several runs", "停止与强制结束,以及多个运行的损失曲线对比"),
    )
    MEANWHILE = (("medtui runs, medtui logs RUN -f and medtui stop RUN", "medtui runs、medtui logs RUN -f 与 medtui stop RUN"),)


class ChatPlaceholder(PlaceholderScreen):
    NAME = "chat"
    OFFERS = (
        ("chatting with a base model or a trained adapter, streamed", "与基础模型或训练后的适配器对话,流式输出"),
        ("comparing two models side by side on the same prompt", "同一问题下并排对比两个模型"),
        ("the model runs in its own process, never in the UI", "模型在独立进程中运行,不占用界面进程"),
    )


class ExportPlaceholder(PlaceholderScreen):
    NAME = "export"
    OFFERS = (
        ("merging a LoRA adapter into its base model and exporting it", "将 LoRA 适配器合并进基础模型并导出"),
        ("the exported folder's files and a quick load check", "导出目录中的文件与加载检查"),
    )
    MEANWHILE = (("Home: Enter on the Export node opens the export form", "首页:在“导出”节点上按回车打开导出表单"),
                 ("medtui export --model M --adapter A --out DIR", "medtui export --model M --adapter A --out DIR"))
