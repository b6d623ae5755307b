// veldctl form media: which labels of a form have a recording in each language, and a recording
// script (CSV) for the labels of one language that have none yet.
#include <algorithm>
#include <fstream>
#include <ostream>
#include <set>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_media.hpp>
#include <veld/form_media_files.hpp>
#include <veld/xlsform.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

// A label read aloud: a question's (or note's, group's) or a choice's.
struct Label {
    std::string item;      // "relationship", or "relation/mother" for a choice
    std::string fileStem;  // "relationship", "relation-mother": a proposed file name's start
    const forms::LocalizedTexts* texts = nullptr;
};

void itemLabels(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
                std::vector<Label>& out) {
    if (!items) return;
    for (const auto* item : *items) {
        if (item->hidden() || !item->labels()) {
            itemLabels(item->children(), out);
            continue;
        }
        const std::string name = item->name()->str();
        out.push_back({name, name, item->labels()});
        itemLabels(item->children(), out);
    }
}

std::vector<Label> labelsOf(const fb::Form& form) {
    std::vector<Label> out;
    itemLabels(form.items(), out);
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            if (!list->choices()) continue;
            const std::string name = list->name() ? list->name()->str() : "";
            for (const auto* c : *list->choices()) {
                const std::string choice = c->name() ? c->name()->str() : "";
                out.push_back({name + "/" + choice, name + "-" + choice, c->labels()});
            }
        }
    }
    return out;
}

std::string textIn(const forms::LocalizedTexts* texts, std::string_view lang) {
    if (!texts) return {};
    for (const auto* t : *texts)
        if (t->lang() && t->lang()->string_view() == lang && t->text()) return t->text()->str();
    return {};
}

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

// A file name for a label's recording: "relationship_so.ogg", only plain file-name characters.
std::string proposedName(const std::string& stem, const std::string& lang) {
    std::string out;
    for (char c : stem + "_" + lang)
        out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'
                   ? c
                   : '_';
    if (out.empty() || !std::isalnum(static_cast<unsigned char>(out[0]))) out = "r" + out;
    return out + ".ogg";
}

}  // namespace

int cmdFormMedia(Args& args, std::ostream& out, std::ostream& err) {
    if (args.flag("--help") || args.flag("-h")) {
        out << "usage: veldctl form media FILE [--lang TAG] [--script OUT.csv]\n"
               "Lists, per language (or only TAG), which labels of the form (questions and "
               "choices) have a recording and which do not. With --script (and --lang), writes a "
               "recording script for that language as CSV: the file name to save each missing "
               "recording as, the item, and the text to read. Recordings go into the folder "
               "FILE's stem + \"-media/\" next to the form, and the form names them (JSON: the "
               "label's \"audio\"; XLSForm: the media::audio::LANGUAGE column).\n";
        return kExitOk;
    }
    std::string lang, script;
    args.option("--lang", lang);
    args.option("--script", script);
    if (!args.error.empty()) {
        err << "veldctl form: " << args.error << "\n";
        return kExitUsage;
    }
    auto files = args.positionals();
    if (files.size() != 1 || !args.unknownOption().empty()) {
        err << "veldctl form: media takes one FILE\n(see veldctl form media --help)\n";
        return kExitUsage;
    }
    if (!script.empty() && lang.empty()) {
        err << "veldctl form: --script needs --lang TAG (the language to record)\n";
        return kExitUsage;
    }
    const auto check = xlsform::loadAnyFormFile(files[0]);
    // Media problems (a recording missing from the folder, say) are what this command shows;
    // only a form that did not compile at all stops it.
    for (const auto& p : check.problems)
        if (p.severity == forms::FormProblem::Severity::Error) err << p.describe() << "\n";
    if (check.binary.empty()) return kExitFailure;
    const auto& form = *fb::GetForm(check.binary.data());
    std::vector<std::string> languages;
    if (form.languages())
        for (const auto* l : *form.languages())
            languages.push_back(l->tag()->str());
    if (languages.empty() && form.default_language())
        languages.push_back(form.default_language()->str());
    if (!lang.empty()) {
        if (std::find(languages.begin(), languages.end(), lang) == languages.end()) {
            err << "veldctl form: the form has no language '" << lang << "'\n";
            return kExitFailure;
        }
        languages = {lang};
    }
    const auto labels = labelsOf(form);
    const std::string deflang = form.default_language() ? form.default_language()->str() : "";
    for (const auto& l : languages) {
        std::size_t recorded = 0;
        std::string lines;
        for (const auto& label : labels) {
            const auto name = forms::labelAudio(label.texts, l);
            const char* state = "none    ";
            if (!name.empty()) state = forms::mediaFile(form, name) ? "recorded" : "missing ";
            if (!name.empty() && forms::mediaFile(form, name)) ++recorded;
            lines += "  " + std::string(state) + "  " + label.item;
            if (!name.empty()) lines += "  " + std::string(name);
            lines += "\n";
        }
        out << l << ": " << recorded << " of " << labels.size() << " labels recorded\n" << lines;
    }
    if (script.empty()) return kExitOk;

    std::string csv = "file,item,text\n";
    std::size_t rows = 0;
    for (const auto& label : labels) {
        const auto name = forms::labelAudio(label.texts, lang);
        if (!name.empty() && forms::mediaFile(form, name)) continue;
        std::string text = textIn(label.texts, lang);
        // No text in the language: the default language's, marked, to translate while reading.
        if (text.empty()) text = "[" + deflang + "] " + textIn(label.texts, deflang);
        csv += csvField(name.empty() ? proposedName(label.fileStem, lang) : std::string(name)) +
               "," + csvField(label.item) + "," + csvField(text) + "\n";
        ++rows;
    }
    std::ofstream file(script, std::ios::binary | std::ios::trunc);
    file << csv;
    file.close();
    if (!file) {
        err << "veldctl form: cannot write " << script << "\n";
        return kExitFailure;
    }
    out << "wrote " << script << ": " << rows << " recording(s) to make in '" << lang << "' into "
        << forms::mediaFolderOf(files[0]) << "/\n";
    return kExitOk;
}

}  // namespace veld::veldctl
