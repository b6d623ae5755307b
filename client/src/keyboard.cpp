#include "keyboard.hpp"

#include <fstream>
#include <sstream>
#include <vector>

namespace veld::client {

namespace {

// Linux key codes of the letters (input-event-codes.h): Q..P, A..L, Z..M.
constexpr int kLetterKeys[] = {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 30, 31, 32,
                               33, 34, 35, 36, 37, 38, 44, 45, 46, 47, 48, 49, 50};

// The "B: KEY=" bitmap: hexadecimal words of the kernel's long (64 bits here), the highest first.
bool hasLetters(std::string_view bitmap) {
    std::vector<unsigned long long> words;
    std::istringstream in{std::string(bitmap)};
    std::string word;
    while (in >> word) {
        try {
            words.push_back(std::stoull(word, nullptr, 16));
        } catch (...) {
            return false;
        }
    }
    if (words.empty()) return false;
    for (int key : kLetterKeys) {
        const std::size_t index = static_cast<std::size_t>(key / 64);
        if (index >= words.size()) return false;
        const unsigned long long w = words[words.size() - 1 - index];
        if ((w >> (key % 64) & 1ULL) == 0) return false;
    }
    return true;
}

}  // namespace

bool listsKeyboard(std::string_view text) {
    bool kbd = false;
    std::string_view keys;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        if (line.empty()) {
            // A blank line ends a device.
            if (kbd && hasLetters(keys)) return true;
            kbd = false;
            keys = {};
        } else if (line.rfind("H: Handlers=", 0) == 0) {
            std::istringstream handlers{std::string(line.substr(12))};
            std::string h;
            while (handlers >> h)
                kbd = kbd || h == "kbd";
        } else if (line.rfind("B: KEY=", 0) == 0) {
            keys = line.substr(7);
        }
        if (end == text.size()) break;
        pos = end + 1;
    }
    return kbd && hasLetters(keys);
}

bool keyboardAttached(const std::string& path) {
    std::ifstream in(path);
    if (!in) return false;
    std::ostringstream text;
    text << in.rdbuf();
    return listsKeyboard(text.str());
}

}  // namespace veld::client
