// veldctl form: check, compile and show form definitions (JSON, compiled, or XLSForm workbooks);
// import workbooks as JSON; install forms into a device store.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <ostream>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/platform/files.hpp>
#include <veld/store.hpp>
#include <veld/xlsform.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

int cmdFormMedia(Args& args, std::ostream& out, std::ostream& err);  // form_media_command.cpp

namespace {

constexpr const char* kFormUsage = R"(usage: veldctl form SUBCOMMAND ARGUMENTS [options]

Subcommands:
  check FILE...            read each form (an .xlsx XLSForm workbook, JSON or compiled) and run
                           Veld's checks; prints every problem as FILE:LINE (or FILE:SHEET!CELL
                           for a workbook): error|warning: item 'NAME': MESSAGE; exit 1 if any
                           file has an error
  import FORM.xlsx [-o OUT.json]
                           read an XLSForm workbook and write the form as JSON (default: FORM.json
                           next to it); prints the problems like check; writes nothing when
                           there is an error (exit 1)
  compile FILE [-o OUT]    check, then write the compiled form (default: FILE with .vfrm)
  show FILE [--lang TAG]   print the item tree with its logic (labels in TAG, else the default)
  install STORE FILE...    check and compile each form, then install it into the device store;
                           a published version never changes: other content under an installed
                           id and version is refused (exit 1)
  installed STORE          the newest installed version of every form: id, version, pilot
  export FILE [-o OUT]     check, then write the form as an XLSForm workbook to edit in Excel
                           (default: FILE with .xlsx)
  media FILE [--lang TAG] [--script OUT.csv]
                           which labels have a recording in each language; --script writes a
                           recording script (CSV) for the labels of TAG without one

Each subcommand takes --help.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl form: " << message << "\n(see veldctl form --help)\n";
    return kExitUsage;
}

bool wantsHelp(Args& args) {
    return args.flag("--help") || args.flag("-h");
}

// Prints problems; true if there was no error.
bool report(const forms::FormCheck& check, std::ostream& out) {
    for (const auto& p : check.problems)
        out << p.describe() << "\n";
    return check.ok();
}

// FILE with its extension replaced (or added): the default name of what a command writes.
std::string withExtension(std::string file, const std::string& extension) {
    auto dot = file.rfind('.');
    auto slash = file.rfind('/');
    if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) file.resize(dot);
    return file + extension;
}

int cmdCheck(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form check FILE...\nChecks form definitions (.xlsx XLSForm "
               "workbooks, JSON or compiled): the workbook's own checks or FlatBuffers' parser, "
               "then Veld's checks. Exit 1 if any file has an error.\n";
        return kExitOk;
    }
    auto files = args.positionals();
    if (files.empty() || !args.unknownOption().empty()) return usage(err, "check takes FILE...");
    int failed = 0;
    for (const auto& file : files) {
        auto check = xlsform::loadAnyFormFile(file);
        if (report(check, out)) {
            out << file << ": ok\n";
        } else {
            ++failed;
        }
    }
    if (failed > 0) out << failed << " of " << files.size() << " form(s) have errors\n";
    return failed == 0 ? kExitOk : kExitFailure;
}

int cmdImport(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form import FORM.xlsx [-o OUT.json]\nReads an XLSForm workbook "
               "(survey, choices and settings sheets; docs/forms.md) and writes the Veld form as "
               "JSON (default: FORM.json next to the workbook). Prints every problem with its "
               "cell, like check. The JSON is written when there are only warnings; with an "
               "error nothing is written and the exit code is 1.\n";
        return kExitOk;
    }
    std::string output;
    args.option("-o", output);
    if (!args.error.empty()) return usage(err, args.error);
    auto files = args.positionals();
    if (files.size() != 1 || !args.unknownOption().empty())
        return usage(err, "import takes one FORM.xlsx");
    if (!xlsform::isWorkbookPath(files[0]))
        return usage(err, "import reads an .xlsx workbook, not '" + files[0] + "'");
    auto imported = xlsform::importWorkbook(files[0]);
    if (!report(imported.check, out)) {
        err << "veldctl: " << files[0] << " has errors; nothing written\n";
        return kExitFailure;
    }
    if (output.empty()) output = withExtension(files[0], ".json");
    std::ofstream file(platform::fsPath(output), std::ios::binary | std::ios::trunc);
    file << imported.json;
    file.close();
    if (!file) {
        err << "veldctl: io: cannot write " << output << "\n";
        return kExitFailure;
    }
    out << "wrote " << output << "\n";
    return kExitOk;
}

int cmdCompile(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form compile FILE [-o OUT]\nChecks the form (.xlsx, JSON or "
               "compiled) and writes the compiled binary form (default: FILE with the extension "
               ".vfrm).\n";
        return kExitOk;
    }
    std::string output;
    args.option("-o", output);
    if (!args.error.empty()) return usage(err, args.error);
    auto files = args.positionals();
    if (files.size() != 1 || !args.unknownOption().empty())
        return usage(err, "compile takes one FILE");
    auto check = xlsform::loadAnyFormFile(files[0]);
    if (!report(check, out)) {
        err << "veldctl: " << files[0] << " has errors; nothing written\n";
        return kExitFailure;
    }
    if (output.empty()) output = withExtension(files[0], ".vfrm");
    std::ofstream file(platform::fsPath(output), std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(check.binary.data()),
               static_cast<std::streamsize>(check.binary.size()));
    file.close();
    if (!file) {
        err << "veldctl: io: cannot write " << output << "\n";
        return kExitFailure;
    }
    out << "wrote " << output << " (" << check.binary.size() << " bytes)\n";
    return kExitOk;
}

int cmdShow(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form show FILE [--lang TAG]\nPrints the form's items as a tree with "
               "their types, labels and logic (relevance, constraints, calculations).\n";
        return kExitOk;
    }
    std::string lang;
    args.option("--lang", lang);
    if (!args.error.empty()) return usage(err, args.error);
    auto files = args.positionals();
    if (files.size() != 1 || !args.unknownOption().empty())
        return usage(err, "show takes one FILE");
    auto check = xlsform::loadAnyFormFile(files[0]);
    if (check.binary.empty()) {
        report(check, err);
        return kExitFailure;
    }
    for (const auto& p : check.problems)
        err << p.describe() << "\n";
    out << forms::describeForm(check.binary, lang);
    return check.ok() ? kExitOk : kExitFailure;
}

int fail(std::ostream& err, const Error& e) {
    err << "veldctl: " << e.describe() << "\n";
    return kExitFailure;
}

int cmdInstall(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form install STORE FILE...\nChecks and compiles each form (.xlsx, "
               "JSON or compiled) and installs it into the device store, printing one line per "
               "form: "
               "installed, or already installed when the store holds the same content.\nA "
               "published version never changes: a form whose id and version are installed "
               "with other content is refused. Exit 1 if any form was not installed.\n";
        return kExitOk;
    }
    auto pos = args.positionals();
    if (pos.size() < 2 || !args.unknownOption().empty())
        return usage(err, "install takes STORE and FILE...");
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadWrite});
    if (!store) return fail(err, store.error());
    int failed = 0;
    for (std::size_t i = 1; i < pos.size(); ++i) {
        const std::string& file = pos[i];
        auto check = xlsform::loadAnyFormFile(file);
        if (!report(check, out)) {
            err << "veldctl: " << file << " has errors; not installed\n";
            ++failed;
            continue;
        }
        const fb::Form* form = fb::GetForm(check.binary.data());
        std::string name = form->id()->str() + " v" + std::to_string(form->version());
        auto existing = store->form(form->id()->string_view(), form->version());
        bool same = existing && existing->binary == check.binary;
        if (Status s = store->installForm(check.binary); !s) {
            err << "veldctl: " << file << ": " << s.error().describe() << "\n";
            ++failed;
            continue;
        }
        out << name << ": " << (same ? "already installed" : "installed") << "\n";
    }
    if (failed > 0) out << failed << " of " << pos.size() - 1 << " form(s) not installed\n";
    return failed == 0 ? kExitOk : kExitFailure;
}

int cmdInstalled(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form installed STORE\nLists the newest installed version of every "
               "form in the device store: id, version and pilot, ordered by pilot.\n";
        return kExitOk;
    }
    auto pos = args.positionals();
    if (pos.size() != 1 || !args.unknownOption().empty())
        return usage(err, "installed takes one STORE");
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadOnly});
    if (!store) return fail(err, store.error());
    auto installed = store->forms();
    if (!installed) return fail(err, installed.error());
    std::size_t width = 4;
    for (const auto& f : *installed)
        width = std::max(width, f.formId.size());
    for (const auto& f : *installed) {
        out << std::left << std::setw(static_cast<int>(width + 2)) << f.formId << std::setw(6)
            << ("v" + std::to_string(f.version)) << (f.pilot.empty() ? "-" : f.pilot) << "\n";
    }
    out << installed->size() << " form(s)\n";
    return kExitOk;
}

int cmdExport(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl form export FILE [-o OUT]\nChecks the form (JSON or compiled) and "
               "writes it as an XLSForm workbook (default: FILE with the extension .xlsx): the "
               "sheets survey, choices and settings, labels in every language. Reading the "
               "workbook back gives the same form. Refused when the form has errors.\n";
        return kExitOk;
    }
    std::string output;
    args.option("-o", output);
    if (!args.error.empty()) return usage(err, args.error);
    auto files = args.positionals();
    if (files.size() != 1 || !args.unknownOption().empty())
        return usage(err, "export takes one FILE");
    auto check = xlsform::loadAnyFormFile(files[0]);
    if (!report(check, out)) {
        err << "veldctl: " << files[0] << " has errors; nothing written\n";
        return kExitFailure;
    }
    if (output.empty()) output = withExtension(files[0], ".xlsx");
    if (Status s = xlsform::exportWorkbook(check.binary, output); !s) return fail(err, s.error());
    out << "wrote " << output << "\n";
    return kExitOk;
}

}  // namespace

int formCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << kFormUsage;
        return kExitUsage;
    }
    const std::string& sub = argv[0];
    if (sub == "--help" || sub == "-h" || sub == "help") {
        out << kFormUsage;
        return kExitOk;
    }
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (sub == "check") return cmdCheck(args, out, err);
    if (sub == "import") return cmdImport(args, out, err);
    if (sub == "compile") return cmdCompile(args, out, err);
    if (sub == "show") return cmdShow(args, out, err);
    if (sub == "install") return cmdInstall(args, out, err);
    if (sub == "installed") return cmdInstalled(args, out, err);
    if (sub == "export") return cmdExport(args, out, err);
    if (sub == "media") return cmdFormMedia(args, out, err);
    return usage(err, "unknown subcommand '" + sub + "'");
}

}  // namespace veld::veldctl
