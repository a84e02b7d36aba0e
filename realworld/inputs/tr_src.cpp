#include <QCoreApplication>
#include <QObject>
class Window : public QObject {
    Q_OBJECT
public:
    void setup() {
        setObjectName(tr("Main window"));
        auto a = tr("&Open...");
        auto b = tr("%n file(s) selected", "status bar", 3);
        auto c = QCoreApplication::translate("Dialog", "Are you sure?");
    }
};
